//! The client side of the exec WebSocket (`GET /v1/sandboxes/{id}/exec/ws`):
//! sends the command, copies output frames to local writers as they arrive,
//! forwards local input, turns interrupts into `kill`, and returns the
//! remote exit code.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};

/// The first client message: what to run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecRequest {
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame {
    Started,
    Stdout {
        data: String,
    },
    Stderr {
        data: String,
    },
    Exit {
        exit_code: i32,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Stdin { data: String },
    StdinEof,
    Kill,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecStreamError {
    /// the server reported an error instead of an exit
    #[error("{message} ({code})")]
    Remote { code: String, message: String },
    #[error("the exec stream closed before the command exited")]
    ClosedWithoutExit,
    #[error("the exec stream failed")]
    Socket(#[from] tungstenite::Error),
    #[error("the server sent a frame this client cannot read")]
    BadFrame(#[source] FrameError),
    #[error("cannot read local input")]
    Stdin(#[source] std::io::Error),
    #[error("cannot write output")]
    Output(#[source] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("invalid JSON")]
    Json(#[from] serde_json::Error),
    #[error("invalid base64 data")]
    Base64(#[from] base64::DecodeError),
}

/// The local ends of one exec: `stdin` is `None` when input is not forwarded
/// (then `stdin_eof` is sent at once); each message on `interrupts` sends `kill`.
#[derive(Debug)]
pub struct ExecIo<I, O, E> {
    pub stdin: Option<I>,
    pub stdout: O,
    pub stderr: E,
    pub interrupts: mpsc::UnboundedReceiver<()>,
}

/// Runs `request` over `ws` and returns the remote exit code.
pub async fn run<S, I, O, E>(
    mut ws: S,
    request: &ExecRequest,
    io: ExecIo<I, O, E>,
) -> Result<i32, ExecStreamError>
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin,
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    E: AsyncWrite + Unpin,
{
    let ExecIo {
        mut stdin,
        mut stdout,
        mut stderr,
        mut interrupts,
    } = io;
    ws.send(text(request)).await?;
    if stdin.is_none() {
        ws.send(text(&ClientFrame::StdinEof)).await?;
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let frame = match incoming {
                    None | Some(Ok(Message::Close(_))) => return Err(ExecStreamError::ClosedWithoutExit),
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(Message::Text(t))) => parse_frame(t.as_str())?,
                    Some(Ok(_)) => continue,
                };
                match frame {
                    ServerFrame::Stdout { data } => write_out(&mut stdout, &data).await?,
                    ServerFrame::Stderr { data } => write_out(&mut stderr, &data).await?,
                    ServerFrame::Exit { exit_code } => {
                        // The server closes after `exit`; our close is a courtesy.
                        let _ = ws.close().await;
                        return Ok(exit_code);
                    }
                    ServerFrame::Error { code, message } => {
                        let _ = ws.close().await;
                        return Err(ExecStreamError::Remote { code, message });
                    }
                    ServerFrame::Started | ServerFrame::Unknown => {}
                }
            }
            read = read_some(&mut stdin, &mut buf), if stdin.is_some() => {
                let n = read.map_err(ExecStreamError::Stdin)?;
                if n == 0 {
                    stdin = None;
                    ws.send(text(&ClientFrame::StdinEof)).await?;
                } else {
                    let data = BASE64.encode(&buf[..n]);
                    ws.send(text(&ClientFrame::Stdin { data })).await?;
                }
            }
            Some(()) = interrupts.recv() => {
                ws.send(text(&ClientFrame::Kill)).await?;
            }
        }
    }
}

/// Maps a remote exit code onto a process exit status: 0–255 as is, a
/// negative code (killed by signal N) as 128+N, anything else as 1.
pub fn exit_status(code: i32) -> u8 {
    if let Ok(code) = u8::try_from(code) {
        return code;
    }
    match code.checked_neg().and_then(|n| u8::try_from(n).ok()) {
        Some(signal) if signal < 128 => 128 + signal,
        _ => 1,
    }
}

fn text<T: Serialize>(value: &T) -> Message {
    // Serialising these plain structs cannot fail.
    Message::text(serde_json::to_string(value).unwrap_or_default())
}

fn parse_frame(text: &str) -> Result<ServerFrame, ExecStreamError> {
    serde_json::from_str(text).map_err(|e| ExecStreamError::BadFrame(e.into()))
}

async fn write_out(out: &mut (impl AsyncWrite + Unpin), data: &str) -> Result<(), ExecStreamError> {
    let bytes = BASE64
        .decode(data)
        .map_err(|e| ExecStreamError::BadFrame(e.into()))?;
    out.write_all(&bytes)
        .await
        .map_err(ExecStreamError::Output)?;
    out.flush().await.map_err(ExecStreamError::Output)
}

async fn read_some<I: AsyncRead + Unpin>(
    input: &mut Option<I>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match input {
        Some(input) => input.read(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "exec_ws_tests.rs"]
mod tests;
