//! The client side of the PTY WebSocket (`GET /v1/sandboxes/{id}/pty`):
//! keyboard bytes go out as binary frames, terminal output comes back as
//! binary frames, resizes go out as text frames; returns the exit code.
//! [`RawMode`] puts the local terminal in raw mode and restores it on drop,
//! so it is restored on every exit path, errors and panics included.

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("{message} ({code})")]
    Remote { code: String, message: String },
    #[error("the shell closed before reporting its exit")]
    ClosedWithoutExit,
    #[error("the shell stream failed")]
    Socket(#[from] tungstenite::Error),
    #[error("cannot set up the terminal")]
    Terminal(#[source] std::io::Error),
    #[error("cannot read the keyboard")]
    Input(#[source] std::io::Error),
    #[error("cannot write to the terminal")]
    Output(#[source] std::io::Error),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame {
    Exit {
        exit_code: i32,
    },
    Error {
        code: String,
        message: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Resize { cols: u16, rows: u16 },
}

/// Raw mode for the local terminal while alive.
#[derive(Debug)]
pub struct RawMode(());

impl RawMode {
    pub fn enable() -> Result<Self, ShellError> {
        crossterm::terminal::enable_raw_mode().map_err(ShellError::Terminal)?;
        Ok(Self(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Runs the session over `ws` until the remote command exits.
pub async fn run<S, I, O>(
    mut ws: S,
    mut input: I,
    mut output: O,
    mut resizes: mpsc::UnboundedReceiver<(u16, u16)>,
) -> Result<i32, ShellError>
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin,
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 8192];
    let mut input_open = true;
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                None | Some(Ok(Message::Close(_))) => return Err(ShellError::ClosedWithoutExit),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Binary(bytes))) => {
                    output.write_all(&bytes).await.map_err(ShellError::Output)?;
                    output.flush().await.map_err(ShellError::Output)?;
                }
                Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                    Ok(ServerFrame::Exit { exit_code }) => {
                        let _ = ws.close().await;
                        return Ok(exit_code);
                    }
                    Ok(ServerFrame::Error { code, message }) => {
                        return Err(ShellError::Remote { code, message });
                    }
                    // `started` and frames this client does not know.
                    Ok(ServerFrame::Other) | Err(_) => {}
                },
                Some(Ok(_)) => {}
            },
            read = input.read(&mut buf), if input_open => {
                let n = read.map_err(ShellError::Input)?;
                if n == 0 {
                    input_open = false;
                } else {
                    ws.send(Message::binary(buf[..n].to_vec())).await?;
                }
            }
            Some((cols, rows)) = resizes.recv() => {
                let frame = serde_json::to_string(&ClientFrame::Resize { cols, rows }).unwrap_or_default();
                ws.send(Message::text(frame)).await?;
            }
        }
    }
}

#[cfg(test)]
#[path = "pty_tests.rs"]
mod tests;
