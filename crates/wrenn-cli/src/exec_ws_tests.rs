//! The exec loop against an in-process fake of the server's exec WebSocket.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::*;
use crate::client::{ApiClient, Credential};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What the fake saw: the Authorization header and every client text frame.
#[derive(Debug, Default)]
struct Seen {
    authorization: Option<String>,
    frames: Vec<Value>,
}

/// Serves one exec connection: echoes forwarded stdin back as stdout once
/// `stdin_eof` arrives, answers `kill` with exit 137, and otherwise exits
/// with `exit_code` (or sends `error` when `exit_code` is `None`).
async fn fake_server(exit_code: Option<i32>) -> (String, oneshot::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut seen = Seen::default();
        let mut auth = None;
        // The callback's signature, with its large error, is tungstenite's.
        #[expect(
            clippy::result_large_err,
            reason = "the callback signature is tungstenite's"
        )]
        let callback = |req: &Request, resp: Response| {
            auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .expect("upgrade");
        seen.authorization = auth;
        let send = |v: Value| Message::text(v.to_string());
        let mut echoed = Vec::new();
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            let frame: Value = serde_json::from_str(t.as_str()).expect("client JSON");
            seen.frames.push(frame.clone());
            match frame.get("type").and_then(Value::as_str) {
                None => {
                    ws.send(send(json!({"type":"started","pid":42})))
                        .await
                        .expect("send");
                    let hi = BASE64.encode("hi\n");
                    ws.send(send(json!({"type":"stdout","data":hi})))
                        .await
                        .expect("send");
                    let warn = BASE64.encode("warn\n");
                    ws.send(send(json!({"type":"stderr","data":warn})))
                        .await
                        .expect("send");
                }
                Some("stdin") => {
                    let data = frame["data"].as_str().unwrap_or_default();
                    echoed.extend(BASE64.decode(data).expect("base64"));
                }
                Some("stdin_eof") => {
                    if !echoed.is_empty() {
                        let data = BASE64.encode(&echoed);
                        ws.send(send(json!({"type":"stdout","data":data})))
                            .await
                            .expect("send");
                    }
                    let last = match exit_code {
                        Some(code) => {
                            json!({"type":"exit","exit_code":code,"status":"exit status"})
                        }
                        None => {
                            json!({"type":"error","code":"sandbox_not_running","message":"gone"})
                        }
                    };
                    ws.send(send(last)).await.expect("send");
                    break;
                }
                Some("kill") => {
                    let exit = json!({"type":"exit","exit_code":137,"status":"signal: killed"});
                    ws.send(send(exit)).await.expect("send");
                    break;
                }
                Some(other) => panic!("unexpected frame type {other}"),
            }
        }
        let _ = ws.close(None).await;
        let _ = done_tx.send(seen);
    });
    (format!("http://{addr}"), done_rx)
}

async fn connect(url: &str) -> Result<crate::client::WsStream, crate::client::ClientError> {
    let client = ApiClient::new(url, Some(Credential::ApiKey("wrn_test".into())), None)?;
    client.websocket("/v1/sandboxes/sb1/exec/ws", &[]).await
}

fn request() -> ExecRequest {
    ExecRequest {
        command: "cat".into(),
        ..ExecRequest::default()
    }
}

#[tokio::test]
async fn run_when_stdin_given_then_forwarded_with_eof_and_exit_code_returned() -> TestResult {
    let (url, seen) = fake_server(Some(7)).await;
    let (_tx, interrupts) = mpsc::unbounded_channel();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = ExecIo {
        stdin: Some(&b"piped input"[..]),
        stdout: &mut out,
        stderr: &mut err,
        interrupts,
    };

    let code = tokio::time::timeout(
        Duration::from_secs(10),
        run(connect(&url).await?, &request(), io),
    )
    .await??;

    assert_eq!(code, 7);
    assert_eq!(out, b"hi\npiped input");
    assert_eq!(err, b"warn\n");
    let seen = seen.await?;
    assert_eq!(seen.authorization.as_deref(), Some("Bearer wrn_test"));
    assert_eq!(seen.frames[0], json!({"command": "cat"}));
    assert_eq!(seen.frames.last(), Some(&json!({"type": "stdin_eof"})));
    Ok(())
}

#[tokio::test]
async fn run_when_no_stdin_then_eof_sent_first() -> TestResult {
    let (url, seen) = fake_server(Some(0)).await;
    let (_tx, interrupts) = mpsc::unbounded_channel();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = ExecIo {
        stdin: None::<&[u8]>,
        stdout: &mut out,
        stderr: &mut err,
        interrupts,
    };

    let code = tokio::time::timeout(
        Duration::from_secs(10),
        run(connect(&url).await?, &request(), io),
    )
    .await??;

    assert_eq!(code, 0);
    assert_eq!(seen.await?.frames[1], json!({"type": "stdin_eof"}));
    Ok(())
}

#[tokio::test]
async fn run_when_interrupted_then_kill_sent_and_its_exit_returned() -> TestResult {
    let (url, seen) = fake_server(Some(0)).await;
    let (tx, interrupts) = mpsc::unbounded_channel();
    // Input that never ends, so only the kill can finish the command.
    let (_keep_open, pending_stdin) = tokio::io::duplex(64);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = ExecIo {
        stdin: Some(pending_stdin),
        stdout: &mut out,
        stderr: &mut err,
        interrupts,
    };
    tx.send(())?;

    let code = tokio::time::timeout(
        Duration::from_secs(10),
        run(connect(&url).await?, &request(), io),
    )
    .await??;

    assert_eq!(code, 137);
    assert_eq!(seen.await?.frames.last(), Some(&json!({"type": "kill"})));
    Ok(())
}

#[tokio::test]
async fn run_when_server_sends_error_then_remote_error() -> TestResult {
    let (url, _seen) = fake_server(None).await;
    let (_tx, interrupts) = mpsc::unbounded_channel();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = ExecIo {
        stdin: None::<&[u8]>,
        stdout: &mut out,
        stderr: &mut err,
        interrupts,
    };

    let result = tokio::time::timeout(
        Duration::from_secs(10),
        run(connect(&url).await?, &request(), io),
    )
    .await?;

    let Err(ExecStreamError::Remote { code, .. }) = result else {
        panic!("expected a remote error, got {result:?}");
    };
    assert_eq!(code, "sandbox_not_running");
    Ok(())
}

#[tokio::test]
async fn websocket_when_server_refuses_upgrade_then_api_error() -> TestResult {
    let app = axum::Router::new().route(
        "/v1/sandboxes/sb1/exec/ws",
        axum::routing::get(|| async {
            let body = json!({"error":{"code":"not_found","message":"no such sandbox"}});
            (axum::http::StatusCode::NOT_FOUND, axum::Json(body))
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let result = connect(&url).await;

    let Err(crate::client::ClientError::Api(api)) = result else {
        panic!("expected an API error, got {result:?}");
    };
    assert_eq!(
        api.code,
        crate::client::Code::Known(wrenn_types::ErrorCode::NotFound)
    );
    Ok(())
}

#[test]
fn exit_status_when_codes_out_of_range_then_mapped() {
    assert_eq!(exit_status(0), 0);
    assert_eq!(exit_status(7), 7);
    assert_eq!(exit_status(-9), 137);
    assert_eq!(exit_status(1000), 1);
}
