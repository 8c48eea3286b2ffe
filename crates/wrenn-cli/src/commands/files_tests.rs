//! `files put` against an in-process fake of the upload endpoint.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::Value;

use super::*;
use crate::client::Credential;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Default)]
struct Received {
    path: String,
    transfer_encoding: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
    frames: usize,
}

async fn upload_handler(
    State(received): State<Arc<Mutex<Received>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, Json<Value>) {
    let mut body = body;
    let mut bytes = Vec::new();
    let mut frames = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
            frames += 1;
        }
    }
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let path = query.get("path").cloned().unwrap_or_default();
    let answer = json!({ "path": path, "bytes": bytes.len() });
    let mut r = received.lock().expect("lock");
    *r = Received {
        path,
        transfer_encoding: header("transfer-encoding"),
        authorization: header("authorization"),
        body: bytes,
        frames,
    };
    (StatusCode::OK, Json(answer))
}

async fn fake_server() -> Result<(String, Arc<Mutex<Received>>), std::io::Error> {
    let received = Arc::new(Mutex::new(Received::default()));
    let app = Router::new()
        .route("/v1/sandboxes/sb1/files", put(upload_handler))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, received))
}

#[tokio::test]
async fn upload_when_large_file_then_streamed_chunked_and_intact() -> TestResult {
    let (url, received) = fake_server().await?;
    let mut local = tempfile::NamedTempFile::new()?;
    let content: Vec<u8> = (0..3 * 1024 * 1024).map(|i: u32| (i % 251) as u8).collect();
    local.write_all(&content)?;
    let client = ApiClient::new(&url, Some(Credential::Token("jwt".into())), None)?;
    let id: PathSegment = "sb1".parse()?;

    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        upload(&client, &id, local.path(), "/home/user/data bin"),
    )
    .await??;

    assert_eq!(
        answer.raw,
        json!({ "path": "/home/user/data bin", "bytes": content.len() })
    );
    assert_eq!(
        (answer.body.path.as_str(), answer.body.bytes),
        ("/home/user/data bin", content.len() as u64)
    );
    let r = received.lock().map_err(|e| e.to_string())?;
    assert_eq!(r.path, "/home/user/data bin");
    assert_eq!(
        r.transfer_encoding.as_deref(),
        Some("chunked"),
        "body is streamed, not buffered"
    );
    assert!(r.frames > 1, "the body arrived in several chunks");
    assert_eq!(r.authorization.as_deref(), Some("Bearer jwt"));
    assert!(r.body == content, "the body arrived intact");
    Ok(())
}

#[tokio::test]
async fn upload_when_local_file_missing_then_local_file_error() -> TestResult {
    let client = ApiClient::new("http://127.0.0.1:9", None, None)?;
    let id: PathSegment = "sb1".parse()?;

    let result = upload(&client, &id, Path::new("/nonexistent/file"), "/x").await;

    assert!(
        matches!(result, Err(CommandError::LocalFile { .. })),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn local_target_when_no_local_then_remote_base_name() -> Result<(), CommandError> {
    assert_eq!(
        local_target("/etc/hostname", None)?,
        PathBuf::from("hostname")
    );
    Ok(())
}

#[test]
fn local_target_when_remote_is_root_and_no_local_then_usage_error() {
    assert!(matches!(
        local_target("/", None),
        Err(CommandError::Usage(_))
    ));
}
