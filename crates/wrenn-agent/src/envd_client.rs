//! The agent's own client for envd inside a guest: `/health`, `/init`, and
//! one-shot commands for the agent's housekeeping (growing the file system,
//! `sync` before a snapshot) through envd's Connect `process.Process/Start`
//! stream, the same protocol the E2B SDKs use; and a template's start
//! command (`POST /wrenn/start`, then `GET /wrenn/start` until ready).
//! Callers' commands and files go through the `/envd/{id}/` proxy instead.
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
    /// The operator's CA bundle (`AGENT_GUEST_CA_FILE`), Wrenn's addition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<&'a str>,
    /// The guest's resolvers, Wrenn's addition: envd rewrites
    /// `/etc/resolv.conf`, so a restored snapshot uses this host's.
    pub nameservers: &'a [std::net::Ipv4Addr],
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

/// Why the guest's disks could not be flushed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("envd /sync request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("envd refused /sync ({0})")]
    Refused(u16),
    #[error("`sync` in the guest: {0}")]
    Exec(#[from] ExecError),
    #[error("`sync` in the guest exited {code}: {stderr}")]
    ExecFailed { code: i32, stderr: String },
}

/// Flushes the guest's dirty pages to its disks: envd's `POST /sync`, or,
/// for an envd older than that route (a 404), a `sync` command (which
/// needs the image's shell and `sync`, and must exit 0).
pub async fn sync(
    http: &reqwest::Client,
    envd_base_url: &str,
    access_token: &str,
) -> Result<(), SyncError> {
    let response = http
        .post(format!("{envd_base_url}/sync"))
        .header("X-Access-Token", access_token)
        .timeout(Duration::from_secs(60))
        .send()
        .await?;
    match response.status() {
        s if s.is_success() => Ok(()),
        reqwest::StatusCode::NOT_FOUND => {
            let mut request = ExecRequest::shell("sync");
            request.user = "root".into();
            request.timeout = Duration::from_secs(60);
            request.access_token = Some(access_token.to_owned());
            let out = exec(envd_base_url, &request).await?;
            if out.exit_code != 0 {
                return Err(SyncError::ExecFailed {
                    code: out.exit_code,
                    stderr: String::from_utf8_lossy(&out.stderr)
                        .chars()
                        .take(300)
                        .collect(),
                });
            }
            Ok(())
        }
        s => Err(SyncError::Refused(s.as_u16())),
    }
}

/// Why a template's start command did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum StartCommandError {
    #[error("envd /wrenn/start request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("envd refused the start command ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("the start command failed: {error}; start log tail:\n{log_tail}")]
    Failed { error: String, log_tail: String },
    #[error("the start command was not ready within {waited:?} (last check: {error}); start log tail:\n{log_tail}")]
    Timeout {
        waited: Duration,
        error: String,
        log_tail: String,
    },
    #[error("the VM stopped while the start command was starting")]
    VmStopped(#[source] VmmError),
}

/// `GET /wrenn/start`, the fields the agent reads.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct StartStatus {
    pub state: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub log_tail: String,
}

/// How much of the start log an error quotes.
const START_LOG_LINES: usize = 20;
/// How often `GET /wrenn/start` is polled.
const START_POLL: Duration = Duration::from_millis(100);
/// Beyond the spec's ready timeout (envd's own clock), how long the agent
/// waits for envd to say `failed` before it gives up itself.
const START_GRACE: Duration = Duration::from_secs(15);

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts `spec` (the body of `POST /wrenn/start`) and waits until envd
/// reports it ready, failed, or `ready_timeout` (plus a grace) passed;
/// checks between polls that the VM still runs (`vm_running`). `token`: envd's access
/// token once `/init` set one (none in a template VM before `/init`).
pub async fn start_and_wait<S: serde::Serialize>(
    http: &reqwest::Client,
    envd_base_url: &str,
    spec: &S,
    ready_timeout: Duration,
    token: Option<&str>,
    mut vm_running: impl FnMut() -> Result<(), VmmError>,
) -> Result<(), StartCommandError> {
    let with_token = |call: reqwest::RequestBuilder| match token {
        Some(token) => call.header("X-Access-Token", token),
        None => call,
    };
    let url = format!("{envd_base_url}/wrenn/start");
    let response = with_token(http.post(&url).json(spec).timeout(Duration::from_secs(10)))
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(StartCommandError::Refused {
            status: status.as_u16(),
            body: body.chars().take(500).collect(),
        });
    }
    let waited = ready_timeout + START_GRACE;
    let deadline = tokio::time::Instant::now() + waited;
    let mut last = StartStatus::default();
    loop {
        vm_running().map_err(StartCommandError::VmStopped)?;
        let polled = with_token(http.get(&url).timeout(Duration::from_secs(5)))
            .send()
            .await;
        if let Ok(response) = polled {
            if response.status().is_success() {
                if let Ok(status) = response.json::<StartStatus>().await {
                    last = status;
                }
            }
        }
        match last.state.as_str() {
            "ready" => return Ok(()),
            "failed" => {
                return Err(StartCommandError::Failed {
                    error: last.error.unwrap_or_else(|| "no reason given".into()),
                    log_tail: last_lines(&last.log_tail, START_LOG_LINES),
                })
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StartCommandError::Timeout {
                waited,
                error: last.error.unwrap_or_else(|| "none yet".into()),
                log_tail: last_lines(&last.log_tail, START_LOG_LINES),
            });
        }
        tokio::time::sleep(START_POLL).await;
    }
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

/// Runs a command (`bash -l -c COMMAND`) to completion and collects its
/// output; fails with [`ExecError::NoExit`] if envd closes the stream without
/// an end event.
pub async fn exec(envd_base_url: &str, request: &ExecRequest) -> Result<ExecOutput, ExecError> {
    let uri = envd_base_url
        .parse()
        .map_err(|_| ExecError::Address(envd_base_url.to_owned()))?;
    let client = ProcessClient::new(HttpClient::plaintext(), ClientConfig::new(uri));
    let start = StartRequest {
        process: ProcessConfig {
            cmd: "/bin/bash".into(),
            args: vec!["-l".into(), "-c".into(), request.command.clone()],
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
    let mut stream = client.start_with_options(start, options).await?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(message) = stream.message::<StartResponse>().await? {
        let event = message.to_owned_message().event.into_option();
        match event.and_then(|e| e.event) {
            Some(Event::Data(data)) => match data.output {
                Some(Output::Stdout(bytes) | Output::Pty(bytes)) => stdout.extend(bytes),
                Some(Output::Stderr(bytes)) => stderr.extend(bytes),
                None => {}
            },
            Some(Event::End(end)) => {
                return Ok(ExecOutput {
                    stdout,
                    stderr,
                    exit_code: end.exit_code,
                    status: end.status,
                });
            }
            Some(Event::Start(_) | Event::Keepalive(_)) | None => {}
        }
    }
    Err(ExecError::NoExit)
}

/// The Basic credentials envd reads the user from: `user:` (no password).
fn base64_user(user: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for envd's start routes: `POST` answers `post_status`,
    /// `GET` walks through `states` (the last one repeats).
    async fn fake_envd(post_status: u16, states: Vec<serde_json::Value>) -> String {
        use axum::{http::StatusCode, routing::get, Json, Router};
        use std::sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        };
        let polls = Arc::new(AtomicUsize::new(0));
        let states = Arc::new(states);
        let app = Router::new().route(
            "/wrenn/start",
            get(move || {
                let (polls, states) = (polls.clone(), states.clone());
                async move {
                    let n = polls.fetch_add(1, Ordering::SeqCst).min(states.len() - 1);
                    Json(states[n].clone())
                }
            })
            .post(move || async move {
                (
                    StatusCode::from_u16(post_status).unwrap_or(StatusCode::OK),
                    "no such user",
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn spec() -> serde_json::Value {
        serde_json::json!({"start_command": "serve"})
    }

    #[tokio::test]
    async fn start_and_wait_when_ready_after_polls_then_ok() {
        let url = fake_envd(
            202,
            vec![
                serde_json::json!({"state": "starting", "log_tail": ""}),
                serde_json::json!({"state": "starting", "error": "check failed"}),
                serde_json::json!({"state": "ready", "log_tail": "up"}),
            ],
        )
        .await;
        let http = reqwest::Client::new();

        let done = start_and_wait(
            &http,
            &url,
            &spec(),
            Duration::from_secs(5),
            None,
            || Ok(()),
        )
        .await;

        assert!(done.is_ok(), "{done:?}");
    }

    #[tokio::test]
    async fn start_and_wait_when_failed_then_error_with_log_tail() {
        let url = fake_envd(
            202,
            vec![serde_json::json!({"state": "failed", "error": "not ready within 1 s", "log_tail": "line1\nboom"})],
        )
        .await;
        let http = reqwest::Client::new();

        let err = start_and_wait(
            &http,
            &url,
            &spec(),
            Duration::from_secs(5),
            Some("t"),
            || Ok(()),
        )
        .await
        .expect_err("failed");

        assert!(matches!(err, StartCommandError::Failed { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("not ready within 1 s") && text.contains("boom"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn start_and_wait_when_refused_then_status_and_body() {
        let url = fake_envd(400, vec![serde_json::json!({"state": "starting"})]).await;
        let http = reqwest::Client::new();

        let err = start_and_wait(
            &http,
            &url,
            &spec(),
            Duration::from_secs(5),
            None,
            || Ok(()),
        )
        .await
        .expect_err("refused");

        assert!(
            matches!(&err, StartCommandError::Refused { status: 400, body } if body == "no such user"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn start_and_wait_when_vm_stops_then_vm_stopped() {
        let url = fake_envd(202, vec![serde_json::json!({"state": "starting"})]).await;
        let http = reqwest::Client::new();

        let err = start_and_wait(&http, &url, &spec(), Duration::from_secs(5), None, || {
            Err(VmmError::Snapshot("gone".into()))
        })
        .await
        .expect_err("stopped");

        assert!(matches!(err, StartCommandError::VmStopped(_)), "{err}");
    }

    #[test]
    fn last_lines_when_long_log_then_tail_only() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("only", 5), "only");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn start_status_when_envd_answer_then_parsed() {
        let status: StartStatus = serde_json::from_str(
            r#"{"state":"failed","restarts":2,"pid":null,"error":"not ready within 1 s","log_tail":"boom"}"#,
        )
        .expect("parse");
        assert_eq!(status.state, "failed");
        assert_eq!(status.error.as_deref(), Some("not ready within 1 s"));
        assert_eq!(status.log_tail, "boom");
    }

    #[test]
    fn basic_auth_when_user_then_encodes_user_colon() {
        assert_eq!(base64_user("user"), "dXNlcjo=");
        assert_eq!(base64_user("root"), "cm9vdDo=");
    }
}
