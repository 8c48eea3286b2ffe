//! The heartbeat loop of a registered agent: one heartbeat at start-up, then
//! one per interval after each answer. Network errors and 5xx are retried
//! with backoff (capped at the interval) and logged at most once a minute;
//! the answers that mean this host is no longer wanted (`401`, `403`, `410`)
//! end the loop with [`HostRevoked`], and the agent shuts down.
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use super::{
    client::{CallError, CpClient, HeartbeatAnswer},
    specs::Usage,
};

/// Interval used until the control plane names one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Clock skew worth a warning (it never fails a heartbeat).
pub const SKEW_WARNING_MS: i64 = 5_000;
/// Shortest interval between two "still failing" warnings.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// First retry delay after a failure (doubles up to the interval).
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The control plane no longer accepts this host: the agent must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRevoked {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub token_file: PathBuf,
}

impl std::fmt::Display for HostRevoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.token_file.display();
        let why = match self.code.as_str() {
            "host_deleted" => "the control plane deleted this host",
            "host_mismatch" => "the token file's host token belongs to another host",
            _ => "the control plane no longer accepts this host's token",
        };
        write!(
            f,
            "{why} ({} {}: {}); delete {file} and register again with a new token (wrenn-agent serve --register <token> --address <ip:port> --cp-url <url>)",
            self.status, self.code, self.message
        )
    }
}

impl std::error::Error for HostRevoked {}

/// Settings of the loop.
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    pub host_id: String,
    pub host_token: String,
    /// Interval from registration (or [`DEFAULT_INTERVAL`]).
    pub interval: Duration,
    /// `AGENT_HEARTBEAT_SECS`: wins over whatever the control plane says.
    pub fixed_interval: Option<Duration>,
    /// Named in the message of [`HostRevoked`].
    pub token_file: PathBuf,
}

/// Runs until the control plane revokes the host; never returns otherwise
/// (the caller drops the future at shutdown).
pub async fn run(
    client: CpClient,
    mut config: HeartbeatConfig,
    usage: impl Fn() -> Usage,
) -> HostRevoked {
    let mut failures = Failures::default();
    let mut skewed = false;
    let mut answered_once = false;
    loop {
        let interval = config.fixed_interval.unwrap_or(config.interval);
        let delay = match client
            .heartbeat(&config.host_id, &config.host_token, usage())
            .await
        {
            Ok(answer) => {
                failures.recovered(&config.host_id);
                if !answered_once {
                    answered_once = true;
                    tracing::info!(host_id = %config.host_id, status = %answer.status, cp = %client.base(), "first heartbeat answered");
                }
                skewed = note_skew(&answer, skewed, &config.host_id);
                if let Some(secs) = Some(answer.heartbeat_interval_secs).filter(|&s| s > 0) {
                    config.interval = Duration::from_secs(secs.min(3600));
                }
                config.fixed_interval.unwrap_or(config.interval)
            }
            Err(CallError::Refused {
                status: status @ (401 | 403 | 410),
                code,
                message,
            }) => {
                return HostRevoked {
                    status,
                    code,
                    message,
                    token_file: config.token_file,
                }
            }
            Err(err) => failures.failed(&err, &config.host_id, interval),
        };
        tokio::time::sleep(delay).await;
    }
}

/// Logs a skew over the threshold when it starts and when it ends.
fn note_skew(answer: &HeartbeatAnswer, was_skewed: bool, host_id: &str) -> bool {
    let skew = answer.clock_skew_ms;
    let skewed = skew.abs() > SKEW_WARNING_MS;
    if skewed && !was_skewed {
        tracing::warn!(%host_id, clock_skew_ms = skew, "this host's clock differs from the control plane's by more than 5 s; check NTP");
    } else if !skewed && was_skewed {
        tracing::info!(%host_id, clock_skew_ms = skew, "clock skew back under 5 s");
    }
    skewed
}

/// Consecutive failures: retry delay and rate-limited warnings.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    last_warning: Option<Instant>,
}

impl Failures {
    /// Logs (at most once per [`WARN_EVERY`]) and returns the retry delay.
    fn failed(&mut self, err: &CallError, host_id: &str, interval: Duration) -> Duration {
        self.count += 1;
        if self
            .last_warning
            .is_none_or(|at| at.elapsed() >= WARN_EVERY)
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!(%host_id, failures = self.count, error = %err, source = ?std::error::Error::source(err).map(ToString::to_string), "heartbeat failed; still serving, retrying");
        }
        retry_delay(self.count, interval)
    }

    fn recovered(&mut self, host_id: &str) {
        if self.count > 0 {
            tracing::info!(%host_id, failures = self.count, "heartbeats answered again");
        }
        *self = Self::default();
    }
}

/// 1 s, 2 s, 4 s, ... never longer than `interval`.
fn retry_delay(failures: u32, interval: Duration) -> Duration {
    let first = FIRST_RETRY.min(interval);
    first
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(interval)
}

#[cfg(test)]
mod tests;
