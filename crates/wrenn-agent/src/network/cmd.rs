//! The one way this module runs `ip`, `nft` and `sysctl`: an argument vector
//! (never a shell string), optional stdin, a timeout, and a typed error that
//! carries the command's stderr.
use std::{process::Stdio, time::Duration};

use tokio::{io::AsyncWriteExt, process::Command};

/// How long one networking command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// A networking command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (missing binary, no permission).
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The program ran and exited with a failure status.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    /// The program ran past [`COMMAND_TIMEOUT`] and was killed.
    #[error("`{command}` timed out after {COMMAND_TIMEOUT:?}")]
    TimedOut { command: String },
}

/// Runs `program args...`, feeding `stdin` when given, and returns stdout.
pub async fn run(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, CommandError> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    tracing::debug!(%command, "network command");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CommandError::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error shows up as the command's own failure below.
        let _ = pipe.write_all(text.as_bytes()).await;
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| CommandError::TimedOut {
            command: command.clone(),
        })?
        .map_err(|source| CommandError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(CommandError::Failed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `ip args...`
pub async fn ip(args: &[&str]) -> Result<String, CommandError> {
    run("ip", args, None).await
}

/// `ip [-n netns] -batch -` with one command per line: one process for
/// many commands. `ip` stops at the first failing command and names it.
pub async fn ip_batch(netns: Option<&str>, commands: &[String]) -> Result<(), CommandError> {
    let script = commands.join("\n") + "\n";
    match netns {
        None => run("ip", &["-batch", "-"], Some(&script)).await?,
        Some(ns) => run("ip", &["-n", ns, "-batch", "-"], Some(&script)).await?,
    };
    Ok(())
}

/// Applies an nftables script atomically, in the host namespace or in `netns`.
pub async fn nft_apply(netns: Option<&str>, script: &str) -> Result<(), CommandError> {
    match netns {
        None => run("nft", &["-f", "-"], Some(script)).await?,
        Some(ns) => run("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(script)).await?,
    };
    Ok(())
}
