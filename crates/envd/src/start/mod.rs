//! A template's start command (`POST /wrenn/start`, host side only, behind
//! the access token like every route but `/init`): envd supervises it and
//! polls its ready command; `GET /wrenn/start` reports how far it got.
//! The supervisor (`supervisor`) and the capped log file (`log`) live here.
pub mod log;
pub mod supervisor;

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use serde::Deserialize;
use tokio::sync::Mutex;

use crate::{process::spawn::SpawnSpec, users::UserInfo};
use log::{CappedLog, START_LOG, START_LOG_CAP};
use supervisor::{SharedStatus, Status};

/// Ready timeout when the spec gives none.
pub const DEFAULT_READY_TIMEOUT_SECS: u32 = 120;
/// How much of the log `GET /wrenn/start` returns.
const LOG_TAIL_BYTES: u64 = 4096;

/// The body of `POST /wrenn/start` (the agent's `TemplateStart`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSpec {
    pub start_command: String,
    #[serde(default)]
    pub ready_command: String,
    /// Empty: `user`.
    #[serde(default)]
    pub user: String,
    /// Empty: the user's home.
    #[serde(default)]
    pub workdir: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// 0: [`DEFAULT_READY_TIMEOUT_SECS`].
    #[serde(default)]
    pub ready_timeout_secs: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("start_command is empty")]
    EmptyCommand,
    #[error("a command contains a NUL byte")]
    NulByte,
    #[error("invalid environment variable {0:?}")]
    BadEnv(String),
    #[error("{0}")]
    User(String),
    #[error("a different start command is already running")]
    AlreadyStarted,
}

impl StartSpec {
    pub fn validate(&self) -> Result<(), StartError> {
        if self.start_command.trim().is_empty() {
            return Err(StartError::EmptyCommand);
        }
        if [&self.start_command, &self.ready_command, &self.workdir]
            .iter()
            .any(|s| s.contains('\0'))
        {
            return Err(StartError::NulByte);
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                return Err(StartError::BadEnv(key.clone()));
            }
        }
        Ok(())
    }

    pub fn ready_timeout(&self) -> Duration {
        let secs = match self.ready_timeout_secs {
            0 => DEFAULT_READY_TIMEOUT_SECS,
            n => n,
        };
        Duration::from_secs(u64::from(secs))
    }
}

/// The one start command of this guest, once started.
#[derive(Debug)]
pub struct Supervisor {
    log: Arc<CappedLog>,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    spec: StartSpec,
    status: SharedStatus,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::with_log(START_LOG, START_LOG_CAP)
    }
}

impl Supervisor {
    pub fn with_log(path: impl Into<PathBuf>, cap: u64) -> Self {
        Self {
            log: Arc::new(CappedLog::new(path, cap)),
            running: Mutex::new(None),
        }
    }

    /// Starts `spec` as `user` in `cwd` with `env`; the same spec again is
    /// accepted and changes nothing, another one is refused.
    pub async fn start(
        &self,
        spec: StartSpec,
        user: &UserInfo,
        cwd: PathBuf,
        env: Vec<(String, String)>,
    ) -> Result<(), StartError> {
        spec.validate()?;
        let mut running = self.running.lock().await;
        if let Some(current) = running.as_ref() {
            return if current.spec == spec {
                Ok(())
            } else {
                Err(StartError::AlreadyStarted)
            };
        }
        let shell = |command: &str| SpawnSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), command.to_owned()],
            env: env.clone(),
            cwd: cwd.clone(),
            uid: user.uid,
            gid: user.gid,
            groups: user.groups(),
            pty: None,
            stdin: false,
        };
        let status = SharedStatus::default();
        tokio::spawn(supervisor::supervise(
            shell(&spec.start_command),
            status.clone(),
            self.log.clone(),
        ));
        let ready = (!spec.ready_command.trim().is_empty()).then(|| shell(&spec.ready_command));
        tokio::spawn(supervisor::await_ready(
            ready,
            spec.ready_timeout(),
            status.clone(),
        ));
        *running = Some(Running { spec, status });
        Ok(())
    }

    /// The status and the log's tail; `None` before any start.
    pub async fn status(&self) -> Option<(Status, String)> {
        let running = self.running.lock().await;
        let status = running.as_ref()?.status.lock().ok()?.clone();
        let log = self.log.clone();
        let tail = tokio::task::spawn_blocking(move || log.tail(LOG_TAIL_BYTES))
            .await
            .unwrap_or_default();
        Some((status, tail))
    }
}

#[cfg(test)]
mod tests {
    use super::{supervisor::StartState, *};
    use crate::process::rpc::base_env;

    fn me() -> UserInfo {
        let name = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .expect("current user")
            .name;
        UserInfo::lookup(&name).expect("lookup")
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("envd-start-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn spec(start: &str, ready: &str, timeout: u32) -> StartSpec {
        StartSpec {
            start_command: start.into(),
            ready_command: ready.into(),
            user: String::new(),
            workdir: String::new(),
            env: BTreeMap::from([("GREETING".into(), "hello".into())]),
            ready_timeout_secs: timeout,
        }
    }

    async fn start(dir: &std::path::Path, spec: StartSpec) -> Supervisor {
        let supervisor = Supervisor::with_log(dir.join("start.log"), 1 << 20);
        let user = me();
        let mut env = base_env(&user, dir);
        env.extend(spec.env.clone());
        supervisor
            .start(spec, &user, dir.to_path_buf(), env.into_iter().collect())
            .await
            .expect("started");
        supervisor
    }

    async fn until(supervisor: &Supervisor, what: impl Fn(&Status) -> bool) -> (Status, String) {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let (status, log) = supervisor.status().await.expect("status");
                if what(&status) {
                    return (status, log);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("state reached within 20 s")
    }

    #[tokio::test]
    async fn start_when_ready_command_passes_later_then_ready_with_output_in_log() {
        let dir = scratch("ready");
        let supervisor = start(
            &dir,
            spec(
                "echo \"$GREETING from $PWD\"; sleep 0.5; touch up; exec sleep 20",
                "test -f up",
                30,
            ),
        )
        .await;
        let (status, log) = until(&supervisor, |s| s.state != StartState::Starting).await;
        assert_eq!(status.state, StartState::Ready);
        assert!(status.ready_at.is_some() && status.pid.is_some());
        assert!(
            log.contains(&format!("hello from {}", dir.display())),
            "{log}"
        );
        assert_eq!(status.restarts, 0);
    }

    #[tokio::test]
    async fn start_when_command_exits_then_restarted_and_logged() {
        let dir = scratch("restart");
        let supervisor = start(&dir, spec("echo run >> runs; exit 3", "", 30)).await;
        let (status, log) = until(&supervisor, |s| s.restarts >= 2).await;
        assert!(status.restarts >= 2);
        let runs = std::fs::read_to_string(dir.join("runs")).expect("runs");
        assert!(runs.lines().count() >= 2, "{runs}");
        assert!(
            log.contains("start command ended (exit status: 3)"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn start_when_never_ready_then_failed_naming_the_check() {
        let dir = scratch("never");
        let supervisor = start(&dir, spec("exec sleep 20", "echo nope >&2; false", 1)).await;
        let (status, _) = until(&supervisor, |s| s.state != StartState::Starting).await;
        assert_eq!(status.state, StartState::Failed);
        let error = status.error.expect("error");
        assert!(
            error.contains("not ready within 1 s") && error.contains("nope"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn start_when_other_spec_already_runs_then_refused_and_same_spec_accepted() {
        let dir = scratch("twice");
        let first = spec("exec sleep 20", "", 5);
        let supervisor = start(&dir, first.clone()).await;
        let user = me();
        let again = supervisor
            .start(first, &user, dir.clone(), Vec::new())
            .await;
        assert_eq!(again, Ok(()));
        let other = supervisor
            .start(spec("exec sleep 1", "", 5), &user, dir.clone(), Vec::new())
            .await;
        assert_eq!(other, Err(StartError::AlreadyStarted));
    }

    #[test]
    fn spec_when_unknown_field_or_empty_command_then_refused() {
        let unknown = serde_json::from_str::<StartSpec>(r#"{"start_command":"x","cmd":"y"}"#);
        assert!(unknown.is_err());
        assert_eq!(spec(" ", "", 0).validate(), Err(StartError::EmptyCommand));
        assert_eq!(spec("x", "", 0).ready_timeout(), Duration::from_secs(120));
    }
}
