//! The agent's own client for envd inside a guest: `/health`, `/init`, and
//! one-shot commands for the agent's housekeeping (growing the file system,
//! `sync` before a snapshot) through envd's Connect `process.Process/Start`
//! stream, the same protocol the E2B SDKs use. Callers' commands and files go
//! through the `/envd/{id}/` proxy instead.
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

    #[test]
    fn basic_auth_when_user_then_encodes_user_colon() {
        assert_eq!(base64_user("user"), "dXNlcjo=");
        assert_eq!(base64_user("root"), "cm9vdDo=");
    }
}
