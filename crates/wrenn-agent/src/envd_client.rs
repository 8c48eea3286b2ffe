//! The agent's client for envd inside a guest: runs commands through envd's
//! Connect `process.Process/Start` stream, the same protocol the E2B SDKs use.
use std::time::Duration;

use connectrpc::client::{CallOptions, ClientConfig, HttpClient};

use crate::vmm::{RunningVm, VmmError};
use wrenn_proto::process::{
    __buffa::oneof::process_event::{data_event::Output, Event},
    ProcessClient, ProcessConfig, StartRequest, StartResponse,
};

/// What the agent sends to envd's `POST /init` once the guest is up.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRequest<'a> {
    pub env_vars: &'a std::collections::BTreeMap<String, String>,
    pub access_token: &'a str,
    pub default_user: &'a str,
    pub default_workdir: &'a str,
    /// RFC 3339 host time; envd sets the guest clock from it (restored
    /// snapshots wake up with the clock of the moment they were taken).
    pub timestamp: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("envd /init request failed")]
    Http(#[from] reqwest::Error),
    #[error("envd /init answered {status}: {body}")]
    Status { status: u16, body: String },
}

/// True once envd's `/health` answers 204.
pub async fn healthy(http: &reqwest::Client, envd_base_url: &str) -> bool {
    let response = http
        .get(format!("{envd_base_url}/health"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    response.is_ok_and(|r| r.status() == reqwest::StatusCode::NO_CONTENT)
}

/// Why a guest's envd did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum WaitReadyError {
    #[error("the VM stopped before envd was ready")]
    VmStopped(#[source] VmmError),
    #[error("envd did not answer /health within {0:?}")]
    Timeout(Duration),
}

/// Polls `/health` until envd answers, checking between polls that the VMM
/// still runs: a guest that panicked at boot fails at once instead of after
/// the whole timeout. The caller decides what to do with the VM on error.
pub async fn wait_ready<Vm: RunningVm>(
    http: &reqwest::Client,
    envd_base_url: &str,
    vm: &mut Vm,
    timeout: Duration,
) -> Result<(), WaitReadyError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        vm.check_running().map_err(WaitReadyError::VmStopped)?;
        if healthy(http, envd_base_url).await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(WaitReadyError::Timeout(timeout));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Calls `POST /init`. `current_token` authenticates a re-init of a guest that
/// already has a token (after resume).
pub async fn init(
    http: &reqwest::Client,
    envd_base_url: &str,
    request: &InitRequest<'_>,
    current_token: Option<&str>,
) -> Result<(), InitError> {
    let mut call = http
        .post(format!("{envd_base_url}/init"))
        .json(request)
        .timeout(Duration::from_secs(10));
    if let Some(token) = current_token {
        call = call.header("X-Access-Token", token);
    }
    let response = call.send().await?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(InitError::Status {
        status: status.as_u16(),
        body: body.chars().take(300).collect(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("invalid envd address '{0}'")]
    Address(String),
    #[error("envd refused the command: {0}")]
    Rpc(#[from] connectrpc::ConnectError),
    #[error("envd ended the stream without an exit event")]
    NoExit,
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    /// envd's description of how it ended, e.g. "exit status 0" or "signal: killed".
    pub status: String,
}

/// Options for one command.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub command: String,
    pub user: String,
    pub timeout: Duration,
    pub access_token: Option<String>,
}

impl ExecRequest {
    /// `bash -l -c COMMAND` as `user`, like the E2B SDK's `commands.run`.
    pub fn shell(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            user: "user".into(),
            timeout: Duration::from_secs(60),
            access_token: None,
        }
    }
}

/// Runs a command to completion and collects its output.
pub async fn exec(envd_base_url: &str, request: &ExecRequest) -> Result<ExecOutput, ExecError> {
    use futures_util::StreamExt;
    let streamed = StreamExecRequest {
        command: request.command.clone(),
        user: request.user.clone(),
        env: std::collections::BTreeMap::new(),
        cwd: None,
        timeout: request.timeout,
        access_token: request.access_token.clone(),
    };
    let events = exec_stream(envd_base_url, &streamed).await?;
    futures_util::pin_mut!(events);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(event) = events.next().await {
        match event? {
            ExecEvent::Stdout(bytes) => stdout.extend(bytes),
            ExecEvent::Stderr(bytes) => stderr.extend(bytes),
            ExecEvent::Ended { exit_code, status } => {
                return Ok(ExecOutput {
                    stdout,
                    stderr,
                    exit_code,
                    status,
                });
            }
            ExecEvent::Started { .. } => {}
        }
    }
    Err(ExecError::NoExit)
}

/// Options for one streamed command (`bash -l -c command`).
#[derive(Debug, Clone)]
pub struct StreamExecRequest {
    pub command: String,
    pub user: String,
    pub env: std::collections::BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub timeout: Duration,
    pub access_token: Option<String>,
}

/// One event of a streamed command, in the order envd sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    Started { pid: u32 },
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Ended { exit_code: i32, status: String },
}

/// Starts a command and returns its events as they arrive; nothing is
/// collected. The stream ends after [`ExecEvent::Ended`], or with
/// [`ExecError::NoExit`] if envd closes it without one. Dropping the stream
/// cancels the call.
pub async fn exec_stream(
    envd_base_url: &str,
    request: &StreamExecRequest,
) -> Result<
    impl futures_util::Stream<Item = Result<ExecEvent, ExecError>> + Send + 'static,
    ExecError,
> {
    let uri = envd_base_url
        .parse()
        .map_err(|_| ExecError::Address(envd_base_url.to_owned()))?;
    let client = ProcessClient::new(HttpClient::plaintext(), ClientConfig::new(uri));
    let start = StartRequest {
        process: ProcessConfig {
            cmd: "/bin/bash".into(),
            args: vec!["-l".into(), "-c".into(), request.command.clone()],
            envs: request.env.clone().into_iter().collect(),
            cwd: request.cwd.clone(),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    };
    let basic = format!("Basic {}", base64_user(&request.user));
    let mut options = CallOptions::default()
        .with_timeout(request.timeout)
        .with_header("authorization", basic);
    if let Some(token) = &request.access_token {
        options = options.with_header("x-access-token", token.clone());
    }
    let stream = client.start_with_options(start, options).await?;
    Ok(futures_util::stream::unfold(
        Some(stream),
        |state| async move {
            let mut stream = state?;
            loop {
                let message = match stream.message::<StartResponse>().await {
                    Ok(Some(message)) => message.to_owned_message(),
                    Ok(None) => return Some((Err(ExecError::NoExit), None)),
                    Err(err) => return Some((Err(ExecError::Rpc(err)), None)),
                };
                let event = match message.event.into_option().and_then(|e| e.event) {
                    Some(Event::Start(start)) => ExecEvent::Started { pid: start.pid },
                    Some(Event::Data(data)) => match data.output {
                        Some(Output::Stdout(bytes) | Output::Pty(bytes)) => {
                            ExecEvent::Stdout(bytes)
                        }
                        Some(Output::Stderr(bytes)) => ExecEvent::Stderr(bytes),
                        None => continue,
                    },
                    Some(Event::End(end)) => {
                        let ended = ExecEvent::Ended {
                            exit_code: end.exit_code,
                            status: end.status,
                        };
                        return Some((Ok(ended), None));
                    }
                    Some(Event::Keepalive(_)) | None => continue,
                };
                return Some((Ok(event), Some(stream)));
            }
        },
    ))
}

/// Failures of envd's plain HTTP `/files` endpoint.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("envd /files request failed")]
    Http(#[from] reqwest::Error),
    #[error("envd /files answered {status}: {message}")]
    Status { status: u16, message: String },
}

/// Where a file transfer goes: envd, its token, the path and the guest user.
#[derive(Debug, Clone)]
pub struct FileTarget<'a> {
    pub envd_base_url: &'a str,
    pub access_token: &'a str,
    pub path: &'a str,
    pub user: &'a str,
}

impl FileTarget<'_> {
    fn request(&self, http: &reqwest::Client, method: reqwest::Method) -> reqwest::RequestBuilder {
        http.request(method, format!("{}/files", self.envd_base_url))
            .query(&[("path", self.path), ("username", self.user)])
            .header("X-Access-Token", self.access_token)
    }
}

async fn check_status(response: reqwest::Response) -> Result<reqwest::Response, FileError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or(body);
    Err(FileError::Status {
        status: status.as_u16(),
        message: message.chars().take(300).collect(),
    })
}

/// Downloads a file from the guest as a stream of chunks (`GET /files`).
pub async fn read_file(
    http: &reqwest::Client,
    target: &FileTarget<'_>,
) -> Result<
    impl futures_util::Stream<Item = Result<bytes::Bytes, FileError>> + Send + 'static,
    FileError,
> {
    use futures_util::TryStreamExt;
    let response = target.request(http, reqwest::Method::GET).send().await?;
    let response = check_status(response).await?;
    Ok(response.bytes_stream().map_err(FileError::Http))
}

/// Uploads `body` to a file in the guest (`POST /files`, octet-stream),
/// streaming it through; returns once envd has written and closed the file.
pub async fn write_file<S>(
    http: &reqwest::Client,
    target: &FileTarget<'_>,
    body: S,
) -> Result<(), FileError>
where
    S: futures_util::TryStream + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    bytes::Bytes: From<S::Ok>,
{
    let response = target
        .request(http, reqwest::Method::POST)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?;
    check_status(response).await.map(|_| ())
}

/// The Basic credentials envd reads the user from: `user:` (no password).
fn base64_user(user: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_when_user_then_encodes_user_colon() {
        assert_eq!(base64_user("user"), "dXNlcjo=");
        assert_eq!(base64_user("root"), "cm9vdDo=");
    }
}
