//! HTTP and WebSocket access to wrenn-cp: one client carrying the base URL,
//! the credential and the team; every non-2xx answer becomes an [`ApiError`]
//! parsed from the `{"error":{"code","message"}}` envelope.

use std::fmt;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use url::Url;
use wrenn_types::ErrorCode;

/// A stream to the server's WebSocket endpoints.
pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What authenticates requests; both kinds travel as `Authorization: Bearer`.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Token(String),
    ApiKey(String),
}

impl Credential {
    fn secret(&self) -> &str {
        match self {
            Credential::Token(s) | Credential::ApiKey(s) => s,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(<redacted>)"),
            Credential::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

/// An error answer from the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ApiError {
    pub status: u16,
    pub code: Code,
    pub message: String,
}

/// An error answer's `code`: one of the API's [`ErrorCode`]s, or, from a
/// newer server or from something in between that answered for it (a proxy's
/// `502` page becomes `http_502`), the text as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Known(ErrorCode),
    Other(String),
}

impl Code {
    pub fn parse(text: &str) -> Self {
        match ErrorCode::parse(text) {
            Some(code) => Code::Known(code),
            None => Code::Other(text.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Code::Known(code) => code.as_str(),
            Code::Other(text) => text,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON answer twice: `raw` as the server sent it (what `--json` prints,
/// every field kept) and `body`, the typed view the CLI reads.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub raw: Value,
    pub body: T,
}

impl ApiError {
    /// Parses the error envelope; a body that is not one still yields an error
    /// named after the HTTP status, so proxies' pages do not confuse users.
    pub fn from_body(status: StatusCode, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            code: String,
            message: String,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(env) => Self {
                status: status.as_u16(),
                code: Code::parse(&env.error.code),
                message: env.error.message,
            },
            Err(_) => Self {
                status: status.as_u16(),
                code: Code::Other(format!("http_{}", status.as_u16())),
                message: status
                    .canonical_reason()
                    .unwrap_or("unexpected answer")
                    .to_owned(),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// the server could not be reached at all
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Api(#[from] ApiError),
    /// the connection broke after it was made
    #[error("request to {url} failed")]
    Transport {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("unexpected answer from {url}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the answer from {url} has no {field}")]
    MissingField { url: String, field: &'static str },
    #[error("invalid API URL {url:?}")]
    BadUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
}

/// The client for one command.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    credential: Option<Credential>,
    team: Option<String>,
}

impl ApiClient {
    pub fn new(
        api_url: &str,
        credential: Option<Credential>,
        team: Option<String>,
    ) -> Result<Self, ClientError> {
        let bad = |source| ClientError::BadUrl {
            url: api_url.to_owned(),
            source,
        };
        let mut base = Url::parse(api_url).map_err(bad)?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad(url::ParseError::RelativeUrlWithoutBase));
        }
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        let http = reqwest::Client::builder()
            .user_agent(concat!("wrenn-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                url: api_url.to_owned(),
                source: e.into(),
            })?;
        Ok(Self {
            http,
            base,
            credential,
            team,
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of `path` (which starts with `/`) under the base URL.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}{}",
            self.base.path().trim_end_matches('/'),
            path
        ));
        url
    }

    /// A request with the credential and team headers set.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(credential) = &self.credential {
            rb = rb.bearer_auth(credential.secret());
        }
        if let Some(team) = &self.team {
            rb = rb.header("X-Team-Id", team);
        }
        rb
    }

    /// Sends `rb`; a non-2xx answer becomes [`ClientError::Api`].
    pub async fn send(&self, rb: RequestBuilder) -> Result<Response, ClientError> {
        let response = rb.send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().to_string();
        let body = response.bytes().await.map_err(|e| ClientError::Transport {
            url,
            source: e.into(),
        })?;
        Err(ApiError::from_body(status, &body).into())
    }

    /// Sends `rb` and returns the JSON answer (`null` for `204`).
    pub async fn send_json(&self, rb: RequestBuilder) -> Result<Value, ClientError> {
        let response = self.send(rb).await?;
        let url = response.url().to_string();
        let body = response.bytes().await.map_err(|e| ClientError::Transport {
            url: url.clone(),
            source: e.into(),
        })?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
    }

    /// Sends `rb` and reads the JSON answer as a `T` too.
    pub async fn send_as<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
    ) -> Result<Answer<T>, ClientError> {
        let response = self.send(rb).await?;
        let url = response.url().to_string();
        let bytes = response.bytes().await.map_err(|e| ClientError::Transport {
            url: url.clone(),
            source: e.into(),
        })?;
        let decode = |source| ClientError::Decode {
            url: url.clone(),
            source,
        };
        let raw: Value = serde_json::from_slice(&bytes).map_err(decode)?;
        let body = T::deserialize(&raw).map_err(decode)?;
        Ok(Answer { raw, body })
    }

    pub async fn get_as<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Answer<T>, ClientError> {
        self.send_as(self.request(Method::GET, path).query(query))
            .await
    }

    pub async fn post_as<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, ClientError> {
        self.send_as(self.request(Method::POST, path).json(body))
            .await
    }

    pub async fn patch_as<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, ClientError> {
        self.send_as(self.request(Method::PATCH, path).json(body))
            .await
    }

    pub async fn post_empty_as<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Answer<T>, ClientError> {
        self.send_as(self.request(Method::POST, path)).await
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value, ClientError> {
        self.send_json(self.request(Method::POST, path).json(body))
            .await
    }

    pub async fn delete(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, ClientError> {
        self.send_json(self.request(Method::DELETE, path).query(query))
            .await
    }

    /// Opens the WebSocket at `path`, authenticated by header.
    pub async fn websocket(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<WsStream, ClientError> {
        let mut url = self.url(path);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Both schemes are "special" with the same shape, so this cannot fail.
        let _ = url.set_scheme(scheme);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let shown = url.to_string();
        let mut request =
            shown
                .as_str()
                .into_client_request()
                .map_err(|e| ClientError::Transport {
                    url: shown.clone(),
                    source: e.into(),
                })?;
        let headers = request.headers_mut();
        if let Some(credential) = &self.credential {
            let value = format!("Bearer {}", credential.secret());
            let value =
                value
                    .parse()
                    .map_err(|e: tungstenite::http::header::InvalidHeaderValue| {
                        ClientError::Transport {
                            url: shown.clone(),
                            source: e.into(),
                        }
                    })?;
            headers.insert("authorization", value);
        }
        if let Some(team) = &self.team {
            let value =
                team.parse()
                    .map_err(|e: tungstenite::http::header::InvalidHeaderValue| {
                        ClientError::Transport {
                            url: shown.clone(),
                            source: e.into(),
                        }
                    })?;
            headers.insert("x-team-id", value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Http(response)) => {
                let status = StatusCode::from_u16(response.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let body = response.body().as_deref().unwrap_or_default();
                Err(ApiError::from_body(status, body).into())
            }
            Err(tungstenite::Error::Io(e)) => Err(ClientError::Connect {
                url: shown,
                source: e.into(),
            }),
            Err(e) => Err(ClientError::Transport {
                url: shown,
                source: e.into(),
            }),
        }
    }
}

fn transport_error(e: reqwest::Error) -> ClientError {
    if e.is_connect() {
        let url = e
            .url()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        // reqwest's chain repeats the URL at each layer; the root cause says it all.
        ClientError::Connect {
            url,
            source: root_cause(&e).to_string().into(),
        }
    } else {
        let url = e.url().map(ToString::to_string).unwrap_or_default();
        ClientError::Transport {
            url,
            source: e.into(),
        }
    }
}

fn root_cause<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_body_when_envelope_then_code_and_message() {
        let body = br#"{"error":{"code":"not_found","message":"sandbox sb_1 not found"}}"#;
        let err = ApiError::from_body(StatusCode::NOT_FOUND, body);
        assert_eq!(err.to_string(), "sandbox sb_1 not found (not_found)");
    }

    #[test]
    fn from_body_when_code_unknown_then_text_kept() {
        let body = br#"{"error":{"code":"shiny_new_code","message":"m"}}"#;
        let err = ApiError::from_body(StatusCode::CONFLICT, body);
        assert_eq!(err.code, Code::Other("shiny_new_code".into()));
        assert_eq!(err.to_string(), "m (shiny_new_code)");
    }

    #[test]
    fn from_body_when_not_json_then_named_after_status() {
        let err = ApiError::from_body(StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(err.code, Code::Other("http_502".into()));
        assert_eq!(err.message, "Bad Gateway");
    }

    #[test]
    fn url_when_base_has_path_then_path_appended() -> Result<(), ClientError> {
        let client = ApiClient::new("http://h:1/prefix/", None, None)?;
        assert_eq!(client.url("/v1/me").as_str(), "http://h:1/prefix/v1/me");
        Ok(())
    }

    #[test]
    fn new_when_scheme_not_http_then_bad_url() {
        assert!(matches!(
            ApiClient::new("ftp://h", None, None),
            Err(ClientError::BadUrl { .. })
        ));
    }

    #[tokio::test]
    async fn get_when_server_answers_error_envelope_then_api_error(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let app = axum::Router::new().route(
            "/v1/sandboxes/sb9",
            axum::routing::get(|| async {
                let body = serde_json::json!({"error": {"code": "not_found", "message": "sandbox sb9 not found"}});
                (axum::http::StatusCode::NOT_FOUND, axum::Json(body))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = ApiClient::new(&url, None, None)?;

        let result = client.get_as::<Value>("/v1/sandboxes/sb9", &[]).await;

        let Err(ClientError::Api(api)) = result else {
            panic!("expected an API error, got {result:?}")
        };
        assert_eq!(
            (api.status, api.code),
            (404, Code::Known(ErrorCode::NotFound))
        );
        Ok(())
    }

    #[tokio::test]
    async fn get_when_nothing_listens_then_connect_error() -> Result<(), Box<dyn std::error::Error>>
    {
        // Bind then drop a listener to get a port where nothing listens.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let client = ApiClient::new(&format!("http://127.0.0.1:{port}"), None, None)?;

        let http = client.get_as::<Value>("/v1/me", &[]).await;
        let ws = client.websocket("/v1/sandboxes/sb1/exec/ws", &[]).await;

        assert!(matches!(http, Err(ClientError::Connect { .. })), "{http:?}");
        assert!(matches!(ws, Err(ClientError::Connect { .. })), "{ws:?}");
        Ok(())
    }

    #[test]
    fn credential_debug_when_printed_then_redacted() {
        let shown = format!("{:?}", Credential::ApiKey("wrn_secret".into()));
        assert!(!shown.contains("wrn_secret"));
    }
}
