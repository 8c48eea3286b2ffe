//! The control plane's client for envd inside a sandbox, reached through
//! the sandbox's host agent (`/envd/{id}/...` on the agent, which adds the
//! sandbox's access token). Processes and filesystem calls use envd's
//! Connect services (the E2B wire protocol); files and metrics its plain
//! HTTP endpoints.
use std::time::Duration;

use base64::Engine;
use connectrpc::client::{CallOptions, ClientConfig};
use futures_util::stream::BoxStream;
use wrenn_proto::{
    filesystem::{
        EntryInfo, FileType, FilesystemClient, ListDirRequest, MakeDirRequest, MoveRequest,
        RemoveRequest,
    },
    process::{
        __buffa::oneof::{
            process_event::{data_event::Output, Event},
            process_input::Input,
        },
        pty::Size,
        CloseStdinRequest, ProcessClient, ProcessConfig, ProcessInput, ProcessSelector,
        SendInputRequest, SendSignalRequest, Signal, StartRequest, StartResponse, UpdateRequest,
        PTY,
    },
};

use crate::agent::{transport::AgentTransport, EnvdRoute};

#[derive(Debug, thiserror::Error)]
pub enum EnvdError {
    /// envd refused the request; `code` is its Connect or HTTP error.
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("cannot reach the sandbox: {0}")]
    Unreachable(String),
    /// The sandbox's host refused to forward (`not_found`,
    /// `sandbox_not_running`, `envd_unreachable`).
    #[error("{message}")]
    Host { code: String, message: String },
}

/// The header the agent's proxy sets on its own refusals (sandbox unknown or
/// not running), as opposed to envd's answers.
const PROXY_ERROR_HEADER: &str = "x-wrenn-proxy-error";

fn proxy_error_code(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(PROXY_ERROR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl From<connectrpc::ConnectError> for EnvdError {
    fn from(err: connectrpc::ConnectError) -> Self {
        use connectrpc::ErrorCode;
        let message = err.message.clone().unwrap_or_default();
        // The proxy answers in its JSON envelope, which a Connect client
        // cannot parse: without this its 404 would read as `Unimplemented`.
        if let Some(code) = proxy_error_code(err.response_headers()) {
            return Self::Host {
                message: format!("the sandbox's host refused: {code}"),
                code,
            };
        }
        match err.code {
            ErrorCode::Unavailable | ErrorCode::Unknown | ErrorCode::Internal
                if message.is_empty() =>
            {
                Self::Unreachable(format!("{:?}", err.code))
            }
            code => Self::Refused {
                code: format!("{code:?}"),
                message,
            },
        }
    }
}

impl From<reqwest::Error> for EnvdError {
    fn from(err: reqwest::Error) -> Self {
        Self::Unreachable(err.without_url().to_string())
    }
}

/// How often envd is asked to send keep-alive events on process streams; a
/// stream silent for three intervals is taken as dead (a VM destroyed
/// under it leaves no TCP reset to notice).
const KEEPALIVE: Duration = Duration::from_secs(15);

/// A process to start.
#[derive(Debug, Clone, Default)]
pub struct Command {
    pub cmd: String,
    pub args: Vec<String>,
    pub user: String,
    pub cwd: Option<String>,
    pub env: std::collections::BTreeMap<String, String>,
    /// Start in a PTY of `(cols, rows)`.
    pub pty: Option<(u32, u32)>,
    pub timeout: Option<Duration>,
}

/// Output and end of a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessOutput {
    Started { pid: u32 },
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Pty(Vec<u8>),
    Ended { exit_code: i32, status: String },
}

/// One file system entry, as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub name: String,
    pub path: String,
    /// `file`, `dir` or `symlink`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: i64,
    pub mode: u32,
    pub modified_at: Option<String>,
}

/// envd of one sandbox.
#[derive(Debug, Clone)]
pub struct Envd {
    route: EnvdRoute,
    http: reqwest::Client,
}

fn basic_user(user: &str) -> String {
    let user = if user.is_empty() { "user" } else { user };
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
    )
}

impl Envd {
    /// `http` serves plain routes; a TLS route brings its own client.
    pub fn new(route: EnvdRoute, http: reqwest::Client) -> Self {
        let http = route.tls.as_ref().map_or(http, |tls| tls.http().clone());
        Self { route, http }
    }

    fn config(&self) -> Result<ClientConfig, EnvdError> {
        let uri = self
            .route
            .base_url
            .parse()
            .map_err(|_| EnvdError::Unreachable("bad agent address".into()))?;
        let mut config = ClientConfig::new(uri);
        for (name, value) in &self.route.headers {
            config = config.with_default_header(*name, value.clone());
        }
        Ok(config)
    }

    fn process(&self) -> Result<ProcessClient<AgentTransport>, EnvdError> {
        Ok(ProcessClient::new(self.transport(), self.config()?))
    }

    fn filesystem(&self) -> Result<FilesystemClient<AgentTransport>, EnvdError> {
        Ok(FilesystemClient::new(self.transport(), self.config()?))
    }

    fn transport(&self) -> AgentTransport {
        AgentTransport::new(self.route.tls.as_ref())
    }

    fn as_user(user: &str) -> CallOptions {
        CallOptions::default()
            .with_timeout(Duration::from_secs(60))
            .with_header("authorization", basic_user(user))
    }

    /// Starts a process (stdin open) and streams its output until it ends.
    pub async fn start(
        &self,
        command: Command,
    ) -> Result<BoxStream<'static, Result<ProcessOutput, EnvdError>>, EnvdError> {
        let start = StartRequest {
            process: ProcessConfig {
                cmd: command.cmd,
                args: command.args,
                envs: command.env.into_iter().collect(),
                cwd: command.cwd,
                ..Default::default()
            }
            .into(),
            pty: command.pty.map(|(cols, rows)| pty(cols, rows)).into(),
            stdin: Some(true),
            ..Default::default()
        };
        // Streams live as long as the command: the whole-call timeout is the
        // command's own limit (a day for interactive shells).
        let options = CallOptions::default()
            .with_timeout(command.timeout.unwrap_or(Duration::from_secs(24 * 3600)))
            .with_header("authorization", basic_user(&command.user))
            .with_header("keepalive-ping-interval", KEEPALIVE.as_secs().to_string());
        let stream = self.process()?.start_with_options(start, options).await?;
        let events = futures_util::stream::unfold(Some(stream), |state| async move {
            let mut stream = state?;
            loop {
                let next = tokio::time::timeout(KEEPALIVE * 3, stream.message::<StartResponse>());
                let message = match next.await {
                    Ok(Ok(Some(message))) => message.to_owned_message(),
                    Ok(Ok(None)) => return None,
                    Ok(Err(err)) => return Some((Err(EnvdError::from(err)), None)),
                    Err(_) => {
                        let silent = EnvdError::Unreachable("the sandbox stopped answering".into());
                        return Some((Err(silent), None));
                    }
                };
                let output = match message.event.into_option().and_then(|e| e.event) {
                    Some(Event::Start(start)) => ProcessOutput::Started { pid: start.pid },
                    Some(Event::Data(data)) => match data.output {
                        Some(Output::Stdout(bytes)) => ProcessOutput::Stdout(bytes),
                        Some(Output::Stderr(bytes)) => ProcessOutput::Stderr(bytes),
                        Some(Output::Pty(bytes)) => ProcessOutput::Pty(bytes),
                        None => continue,
                    },
                    Some(Event::End(end)) => {
                        let ended = ProcessOutput::Ended {
                            exit_code: end.exit_code,
                            status: end.status,
                        };
                        return Some((Ok(ended), None));
                    }
                    Some(Event::Keepalive(_)) | None => continue,
                };
                return Some((Ok(output), Some(stream)));
            }
        });
        Ok(Box::pin(events))
    }

    fn selector(pid: u32) -> ProcessSelector {
        ProcessSelector {
            selector: Some(
                wrenn_proto::process::__buffa::oneof::process_selector::Selector::Pid(pid),
            ),
            ..Default::default()
        }
    }

    pub async fn send_input(
        &self,
        user: &str,
        pid: u32,
        data: Vec<u8>,
        pty: bool,
    ) -> Result<(), EnvdError> {
        let input = if pty {
            Input::Pty(data)
        } else {
            Input::Stdin(data)
        };
        let request = SendInputRequest {
            process: Self::selector(pid).into(),
            input: ProcessInput {
                input: Some(input),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        self.process()?
            .send_input_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn close_stdin(&self, user: &str, pid: u32) -> Result<(), EnvdError> {
        let request = CloseStdinRequest {
            process: Self::selector(pid).into(),
            ..Default::default()
        };
        self.process()?
            .close_stdin_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn kill(&self, user: &str, pid: u32) -> Result<(), EnvdError> {
        let request = SendSignalRequest {
            process: Self::selector(pid).into(),
            signal: Signal::SIGNAL_SIGKILL.into(),
            ..Default::default()
        };
        self.process()?
            .send_signal_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn resize(
        &self,
        user: &str,
        pid: u32,
        cols: u32,
        rows: u32,
    ) -> Result<(), EnvdError> {
        let request = UpdateRequest {
            process: Self::selector(pid).into(),
            pty: pty(cols, rows).into(),
            ..Default::default()
        };
        self.process()?
            .update_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn list_dir(
        &self,
        user: &str,
        path: &str,
        depth: u32,
    ) -> Result<Vec<Entry>, EnvdError> {
        let request = ListDirRequest {
            path: path.into(),
            depth,
            ..Default::default()
        };
        let response = self
            .filesystem()?
            .list_dir_with_options(request, Self::as_user(user))
            .await?;
        Ok(response
            .into_owned()
            .entries
            .into_iter()
            .map(entry)
            .collect())
    }

    pub async fn make_dir(&self, user: &str, path: &str) -> Result<(), EnvdError> {
        let request = MakeDirRequest {
            path: path.into(),
            ..Default::default()
        };
        self.filesystem()?
            .make_dir_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn remove(&self, user: &str, path: &str) -> Result<(), EnvdError> {
        let request = RemoveRequest {
            path: path.into(),
            ..Default::default()
        };
        self.filesystem()?
            .remove_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    pub async fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), EnvdError> {
        let request = MoveRequest {
            source: from.into(),
            destination: to.into(),
            ..Default::default()
        };
        self.filesystem()?
            .move_with_options(request, Self::as_user(user))
            .await?;
        Ok(())
    }

    fn http(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.route.base_url));
        for (name, value) in &self.route.headers {
            request = request.header(*name, value);
        }
        request
    }

    /// `GET /files`: the file's bytes as they arrive.
    pub async fn download(&self, user: &str, path: &str) -> Result<reqwest::Response, EnvdError> {
        let response = self
            .http(reqwest::Method::GET, "/files")
            .query(&[("path", path), ("username", user)])
            .send()
            .await?;
        checked(response).await
    }

    /// `POST /files` (octet-stream): streams `body` into the file.
    pub async fn upload(
        &self,
        user: &str,
        path: &str,
        body: reqwest::Body,
    ) -> Result<(), EnvdError> {
        let response = self
            .http(reqwest::Method::POST, "/files")
            .query(&[("path", path), ("username", user)])
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await?;
        checked(response).await.map(|_| ())
    }

    /// envd's `GET /metrics` JSON.
    pub async fn metrics(&self) -> Result<serde_json::Value, EnvdError> {
        let response = self
            .http(reqwest::Method::GET, "/metrics")
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        Ok(checked(response).await?.json().await?)
    }
}

/// Passes 2xx through; turns envd's (or the agent proxy's) error body into
/// [`EnvdError::Refused`] with its HTTP status as the code.
async fn checked(response: reqwest::Response) -> Result<reqwest::Response, EnvdError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let proxy_code = proxy_error_code(response.headers());
    let body = response.text().await.unwrap_or_default();
    let json = serde_json::from_str::<serde_json::Value>(&body).ok();
    let text = |pointer: &str| {
        json.as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    };
    // The agent's proxy answers with the `{"error":{"code","message"}}`
    // envelope (the sandbox is gone or stopped); envd with `{"message"}`.
    if let Some(code) = proxy_code.or_else(|| text("/error/code")) {
        return Err(EnvdError::Host {
            code,
            message: text("/error/message").unwrap_or_default(),
        });
    }
    let message = text("/message").unwrap_or(body);
    Err(EnvdError::Refused {
        code: status.as_u16().to_string(),
        message: message.chars().take(500).collect(),
    })
}

fn pty(cols: u32, rows: u32) -> PTY {
    PTY {
        size: Size {
            cols,
            rows,
            ..Default::default()
        }
        .into(),
        ..Default::default()
    }
}

fn entry(info: EntryInfo) -> Entry {
    let kind = match info.r#type.as_known() {
        Some(FileType::FILE_TYPE_DIRECTORY) => "dir",
        Some(FileType::FILE_TYPE_SYMLINK) => "symlink",
        _ if info.is_symlink => "symlink",
        _ => "file",
    };
    let modified_at = info
        .modified_time
        .as_option()
        .map(|t| crate::timestamp::rfc3339(t.seconds * 1000 + i64::from(t.nanos) / 1_000_000));
    Entry {
        name: info.name,
        path: info.path,
        kind,
        size: info.size,
        mode: info.mode,
        modified_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_error_when_proxy_refused_then_host_error() {
        // The agent's 404 for an unknown sandbox reaches a Connect client as
        // `Unimplemented` without a message; the header says what it was.
        let mut err = connectrpc::ConnectError::new(connectrpc::ErrorCode::Unimplemented, "");
        err.response_headers_mut()
            .insert(PROXY_ERROR_HEADER, "not_found".parse().expect("header"));
        match EnvdError::from(err) {
            EnvdError::Host { code, .. } => assert_eq!(code, "not_found"),
            other => panic!("expected a host refusal, got {other:?}"),
        }
    }

    #[test]
    fn connect_error_when_envd_refused_then_refused_with_code() {
        let err = connectrpc::ConnectError::new(connectrpc::ErrorCode::NotFound, "no such file");
        match EnvdError::from(err) {
            EnvdError::Refused { code, message } => {
                assert_eq!(
                    (code.as_str(), message.as_str()),
                    ("NotFound", "no such file")
                );
            }
            other => panic!("expected envd's refusal, got {other:?}"),
        }
    }
}
