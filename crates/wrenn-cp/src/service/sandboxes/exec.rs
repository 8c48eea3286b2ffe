//! A command run to completion in a sandbox, its output collected: the same
//! road into the guest as streaming exec and PTYs (envd's `Process.Start`
//! through the host's envd proxy). Nothing is written to its stdin.
use std::{collections::BTreeMap, time::Duration};

use futures_util::StreamExt;
use wrenn_types::SandboxId;

use super::guest::{guest, GuestCallError, OpenGuestError};
use crate::{
    envd::{Command, ProcessOutput},
    state::AppState,
};

/// Output kept per stream; the rest is dropped and `truncated` set.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// A command for `bash -l -c`.
#[derive(Debug, Clone)]
pub struct ExecCommand {
    pub command: String,
    /// Guest user (envd's default when empty).
    pub user: String,
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    /// Whole-command limit.
    pub timeout: Duration,
}

impl ExecCommand {
    /// The envd process: `bash -l -c command`; `stdin` for streams that
    /// forward input.
    pub fn process(&self, stdin: bool) -> Command {
        Command {
            cmd: "/bin/bash".into(),
            args: vec!["-l".into(), "-c".into(), self.command.clone()],
            user: self.user.clone(),
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            pty: None,
            stdin,
            timeout: Some(self.timeout),
        }
    }
}

/// A finished command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedExec {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    /// How it ended, e.g. `exit status 0` or `signal: killed`.
    pub status: String,
    pub duration: Duration,
    /// An output was longer than [`MAX_OUTPUT`] and was cut.
    pub truncated: bool,
}

/// Why a collected exec gave no result.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Open(#[from] OpenGuestError),
    #[error(transparent)]
    Guest(#[from] GuestCallError),
    /// envd closed the output without an exit status.
    #[error("the command's output ended without an exit status")]
    NoExit,
}

/// Runs `command` in the caller's running sandbox `id` and collects its
/// output.
pub async fn exec(
    state: &AppState,
    team_id: &str,
    id: &SandboxId,
    command: &ExecCommand,
) -> Result<CollectedExec, ExecError> {
    let guest = guest(state, team_id, id).await?;
    let started = std::time::Instant::now();
    let mut output = guest.call(guest.envd.start(command.process(false))).await?;
    let (mut stdout, mut stderr, mut truncated) = (Vec::new(), Vec::new(), false);
    while let Some(event) = output.next().await {
        match event {
            Err(err) => return Err(guest.settle(err).await.into()),
            Ok(ProcessOutput::Stdout(bytes) | ProcessOutput::Pty(bytes)) => {
                append(&mut stdout, &bytes, &mut truncated);
            }
            Ok(ProcessOutput::Stderr(bytes)) => append(&mut stderr, &bytes, &mut truncated),
            Ok(ProcessOutput::Started { .. }) => {}
            Ok(ProcessOutput::Ended { exit_code, status }) => {
                return Ok(CollectedExec {
                    stdout,
                    stderr,
                    exit_code,
                    status,
                    duration: started.elapsed(),
                    truncated,
                });
            }
        }
    }
    Err(ExecError::NoExit)
}

fn append(buffer: &mut Vec<u8>, bytes: &[u8], truncated: &mut bool) {
    let room = MAX_OUTPUT.saturating_sub(buffer.len());
    if bytes.len() > room {
        *truncated = true;
    }
    buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_when_over_limit_then_cut_and_truncated() {
        let (mut buffer, mut truncated) = (vec![0; MAX_OUTPUT - 1], false);
        append(&mut buffer, b"abc", &mut truncated);
        assert_eq!((buffer.len(), truncated), (MAX_OUTPUT, true));
    }

    #[test]
    fn process_when_collected_then_bash_login_without_stdin_request() {
        let command = ExecCommand {
            command: "true".into(),
            user: String::new(),
            cwd: None,
            env: BTreeMap::new(),
            timeout: Duration::from_secs(60),
        };
        let process = command.process(false);
        assert_eq!(process.args, ["-l", "-c", "true"]);
        assert!(!process.stdin);
    }
}
