//! The PTY loop against an in-process fake of the server's PTY WebSocket.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::*;
use crate::client::ApiClient;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Echoes keyboard input as output; on a resize, answers `exit 3`. Reports
/// the request URI and the frames it received.
async fn fake_server() -> (String, oneshot::Receiver<(String, Vec<Message>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut uri = String::new();
        // The callback's signature, with its large error, is tungstenite's.
        #[expect(
            clippy::result_large_err,
            reason = "the callback signature is tungstenite's"
        )]
        let callback = |req: &Request, resp: Response| {
            uri = req.uri().to_string();
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .expect("upgrade");
        ws.send(Message::text(json!({"type":"started","pid":1}).to_string()))
            .await
            .expect("send");
        let mut frames = Vec::new();
        while let Some(Ok(msg)) = ws.next().await {
            frames.push(msg.clone());
            match msg {
                Message::Binary(bytes) => ws.send(Message::binary(bytes)).await.expect("send"),
                Message::Text(_) => {
                    let exit = json!({"type":"exit","exit_code":3,"status":"exit status 3"});
                    ws.send(Message::text(exit.to_string()))
                        .await
                        .expect("send");
                    break;
                }
                _ => {}
            }
        }
        let _ = ws.close(None).await;
        let _ = done_tx.send((uri, frames));
    });
    (format!("http://{addr}"), done_rx)
}

#[tokio::test]
async fn run_when_typing_and_resizing_then_echoed_and_exit_code_returned() -> TestResult {
    let (url, done) = fake_server().await;
    let client = ApiClient::new(&url, None, None)?;
    let ws = client
        .websocket("/v1/sandboxes/sb1/pty", &[("cols", "100"), ("rows", "30")])
        .await?;
    let (mut keyboard, input) = tokio::io::duplex(64);
    let mut output = Vec::new();
    let (resize_tx, resizes) = mpsc::unbounded_channel();
    let session = tokio::spawn(async move {
        let code = run(ws, input, &mut output, resizes).await;
        (code, output)
    });

    keyboard.write_all(b"ls\r").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    resize_tx.send((120, 40))?;
    let (code, output) = tokio::time::timeout(Duration::from_secs(10), session).await??;

    assert_eq!(code?, 3);
    assert_eq!(output, b"ls\r");
    let (uri, frames) = done.await?;
    assert_eq!(uri, "/v1/sandboxes/sb1/pty?cols=100&rows=30");
    let resize: Value = match frames.last() {
        Some(Message::Text(t)) => serde_json::from_str(t.as_str())?,
        other => panic!("expected a resize frame, got {other:?}"),
    };
    assert_eq!(resize, json!({"type":"resize","cols":120,"rows":40}));
    Ok(())
}
