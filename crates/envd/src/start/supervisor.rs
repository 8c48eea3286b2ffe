//! Runs the start command and keeps it running: restarted with backoff
//! when it exits, its output appended to the start log; beside it, the
//! ready command polled until it passes or the ready timeout ends. Both are
//! tasks of envd itself, so they live through a snapshot and restore.
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use tokio::io::AsyncReadExt;

use super::log::CappedLog;
use crate::process::spawn::{spawn as spawn_process, SpawnSpec};

/// Restart delays: 0.5 s, doubling, at most 10 s; back to 0.5 s after a run
/// that lasted [`STEADY_RUN`].
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(10);
const STEADY_RUN: Duration = Duration::from_secs(30);
/// How often the ready command is tried.
pub const READY_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartState {
    Starting,
    Ready,
    Failed,
}

/// What `GET /wrenn/start` reports (besides the log tail).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub state: StartState,
    /// Times the start command was started again after it ended.
    pub restarts: u32,
    /// The running start command's pid, if one runs.
    pub pid: Option<u32>,
    /// Unix seconds when the ready command first passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<f64>,
    /// Why the state is `failed`, or the last failed ready check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            state: StartState::Starting,
            restarts: 0,
            pid: None,
            ready_at: None,
            error: None,
        }
    }
}

pub type SharedStatus = Arc<Mutex<Status>>;

fn update(status: &SharedStatus, change: impl FnOnce(&mut Status)) {
    if let Ok(mut guard) = status.lock() {
        change(&mut guard);
    }
}

/// The restart delay sequence.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The delay after a run that lasted `ran`.
    pub fn after_run(&mut self, ran: Duration) -> Duration {
        if ran >= STEADY_RUN {
            self.next = FIRST_DELAY;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        delay
    }
}

/// Starts `command` again and again, forever (the task is aborted to stop).
pub async fn supervise(command: SpawnSpec, status: SharedStatus, log: Arc<CappedLog>) {
    let mut backoff = Backoff::default();
    loop {
        let began = Instant::now();
        match spawn_process(command.clone()) {
            Ok(mut spawned) => {
                let pid = spawned.pid;
                update(&status, |s| s.pid = Some(pid));
                let pumps = [
                    spawned
                        .child
                        .stdout
                        .take()
                        .map(|out| pump(out, log.clone())),
                    spawned
                        .child
                        .stderr
                        .take()
                        .map(|err| pump(err, log.clone())),
                ];
                let exit = spawned.child.wait().await;
                // What the shell left behind (it ran in its own session).
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                for pump in pumps.into_iter().flatten() {
                    let _ = pump.await;
                }
                update(&status, |s| s.pid = None);
                let how = exit.map_or_else(|e| e.to_string(), |s| s.to_string());
                log.append(format!("[wrenn] start command ended ({how})\n").as_bytes());
            }
            Err(err) => {
                log.append(format!("[wrenn] cannot run the start command: {err}\n").as_bytes());
            }
        }
        let delay = backoff.after_run(began.elapsed());
        tokio::time::sleep(delay).await;
        update(&status, |s| s.restarts += 1);
    }
}

fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: Arc<CappedLog>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let log = log.clone();
                    let chunk = buf[..n].to_vec();
                    let _ = tokio::task::spawn_blocking(move || log.append(&chunk)).await;
                }
            }
        }
    })
}

/// Polls `ready` (none: ready once the start command runs) every
/// [`READY_POLL`] until it exits 0, then marks the status ready; after
/// `timeout` without that, failed.
pub async fn await_ready(ready: Option<SpawnSpec>, timeout: Duration, status: SharedStatus) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let outcome = match &ready {
            Some(command) => check(command.clone(), deadline).await,
            None => match status.lock().map(|s| s.pid.is_some()) {
                Ok(true) => Ok(()),
                _ => Err("the start command is not running".to_owned()),
            },
        };
        match outcome {
            Ok(()) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                update(&status, |s| {
                    s.state = StartState::Ready;
                    s.ready_at = Some(now);
                    s.error = None;
                });
                return;
            }
            Err(why) => update(&status, |s| s.error = Some(why)),
        }
        if tokio::time::Instant::now() + READY_POLL >= deadline {
            update(&status, |s| {
                let last = s.error.take().unwrap_or_default();
                s.state = StartState::Failed;
                s.error = Some(format!(
                    "not ready within {} s; last check: {last}",
                    timeout.as_secs()
                ));
            });
            return;
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// One run of the ready command, bounded by `deadline`.
async fn check(command: SpawnSpec, deadline: tokio::time::Instant) -> Result<(), String> {
    let spawned = spawn_process(command).map_err(|e| e.to_string())?;
    let pid = spawned.pid;
    match tokio::time::timeout_at(deadline, spawned.child.wait_with_output()).await {
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String = stderr.trim().chars().rev().take(300).collect();
            Err(format!(
                "ready command {}: {}",
                output.status,
                tail.chars().rev().collect::<String>()
            ))
        }
        Ok(Err(err)) => Err(format!("ready command: {err}")),
        Err(_) => {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err("ready command still running at the deadline".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_when_runs_fail_fast_then_doubles_to_ten_seconds() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..7)
            .map(|_| backoff.after_run(Duration::ZERO).as_millis() as u64)
            .collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    }

    #[test]
    fn backoff_when_a_run_was_steady_then_starts_over() {
        let mut backoff = Backoff::default();
        for _ in 0..4 {
            backoff.after_run(Duration::ZERO);
        }
        assert_eq!(backoff.after_run(STEADY_RUN), FIRST_DELAY);
    }
}
