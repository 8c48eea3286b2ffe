//! Tests only: a control plane in-process (axum on a loopback port) that
//! answers registration and heartbeats from a script and records what it got.
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

use super::input::CpUrl;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub host_token: Option<String>,
    pub body: Value,
}

#[derive(Debug, Default)]
struct Script {
    /// Answers in order; the last one repeats.
    answers: VecDeque<(u16, Value)>,
    seen: Vec<Seen>,
}

/// Handle to a running fake.
#[derive(Debug, Clone)]
pub struct FakeCp {
    pub url: CpUrl,
    script: Arc<Mutex<Script>>,
}

/// `{"error":{code,message}}` with `status`.
pub fn refusal(status: u16, code: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": format!("{code} (fake)")}}),
    )
}

/// A heartbeat's `200` answer.
pub fn online(clock_skew_ms: i64) -> (u16, Value) {
    online_every(30, clock_skew_ms)
}

/// A heartbeat's `200` answer naming the interval.
pub fn online_every(interval_secs: u64, clock_skew_ms: i64) -> (u16, Value) {
    (
        200,
        json!({"status": "online", "heartbeat_interval_secs": interval_secs,
               "server_time_ms": 1, "clock_skew_ms": clock_skew_ms}),
    )
}

impl FakeCp {
    pub async fn start(answers: Vec<(u16, Value)>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            answers: answers.into(),
            seen: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/hosts/register", post(register))
            .route("/v1/hosts/{id}/heartbeat", post(heartbeat))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}").parse().expect("url"),
            script,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().expect("lock").seen.clone()
    }
}

async fn register(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    answer(&script, "/v1/hosts/register".into(), &headers, body)
}

async fn heartbeat(
    State(script): State<Arc<Mutex<Script>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    answer(&script, format!("/v1/hosts/{id}/heartbeat"), &headers, body)
}

fn answer(
    script: &Mutex<Script>,
    path: String,
    headers: &HeaderMap,
    body: Value,
) -> (StatusCode, Json<Value>) {
    let mut script = script.lock().expect("lock");
    script.seen.push(Seen {
        path,
        host_token: headers
            .get("x-host-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    });
    let (status, value) = if script.answers.len() > 1 {
        script.answers.pop_front()
    } else {
        script.answers.front().cloned()
    }
    .unwrap_or_else(|| online(0));
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(value),
    )
}
