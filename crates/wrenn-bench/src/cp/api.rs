//! A minimal client of the control plane's REST API: a fresh account with
//! an API key, and JSON calls that insist on the expected status.
use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CALL_LIMIT: Duration = Duration::from_secs(600);

/// A team's API key on one control plane.
#[derive(Debug, Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub team_id: String,
}

impl Api {
    /// Signs up a new user (and so a personal team) and creates an API key.
    pub async fn signup(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(CALL_LIMIT).build()?;
        let email = format!(
            "bench-{}@wrenn.example",
            wrenn_cp::auth::random_token(8).to_lowercase()
        );
        let password = wrenn_cp::auth::random_token(24);
        let answer = call(
            http.post(format!("{base}/v1/auth/signup"))
                .json(&json!({"email": email, "password": password})),
            StatusCode::CREATED,
        )
        .await
        .context("signup")?;
        let token = text(&answer, "/token")?;
        let team_id = text(&answer, "/team/id")?;
        let answer = call(
            http.post(format!("{base}/v1/keys"))
                .bearer_auth(&token)
                .json(&json!({"name": "bench"})),
            StatusCode::CREATED,
        )
        .await
        .context("create an API key")?;
        Ok(Self {
            key: text(&answer, "/key")?,
            http,
            base: base.to_owned(),
            team_id,
        })
    }

    /// `method path` with the API key, `body` as JSON; answers the JSON body
    /// (`Null` when empty), or an error unless the status is `expect`.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expect: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        call(request, expect).await
    }
}

async fn call(request: reqwest::RequestBuilder, expect: StatusCode) -> anyhow::Result<Value> {
    let answer = request.send().await?;
    let status = answer.status();
    let bytes = answer.bytes().await?;
    anyhow::ensure!(
        status == expect,
        "answered {status} (expected {expect}): {}",
        String::from_utf8_lossy(&bytes)
    );
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The string at JSON pointer `pointer`.
pub fn text(value: &Value, pointer: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {pointer} in {value}"))
}
