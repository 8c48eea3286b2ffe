//! Sandbox lifecycle states and the transitions allowed between them. An
//! illegal transition is a typed error, never a silent no-op.
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    /// VM starting; envd not ready yet.
    Starting,
    /// envd answered and was initialised.
    Running,
    /// Snapshot being written.
    Pausing,
    /// Snapshot on disk; no VM process.
    Paused,
    /// Restoring from the snapshot.
    Resuming,
    /// Destroyed; every resource released.
    Stopped,
    /// Failed; `reason` says why. Resources are released.
    Error,
}

impl SandboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Pausing => "pausing",
            Self::Paused => "paused",
            Self::Resuming => "resuming",
            Self::Stopped => "stopped",
            Self::Error => "error",
        }
    }

    /// Whether `self → next` is a legal transition.
    pub fn can_become(self, next: Self) -> bool {
        use SandboxState::*;
        matches!(
            (self, next),
            (Starting, Running)
                | (Running, Pausing)
                | (Pausing, Paused)
                | (Pausing, Running) // snapshot failed; the VM keeps running
                | (Paused, Resuming)
                | (Resuming, Running)
                | (Resuming, Paused) // restore failed; the snapshot is kept
                | (Starting | Running | Paused | Error, Stopped)
                | (Starting | Running | Pausing | Resuming, Error)
        )
    }
}

impl std::fmt::Display for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sandbox is {from}, it cannot become {to}")]
pub struct IllegalTransition {
    pub from: SandboxState,
    pub to: SandboxState,
}

/// One recorded transition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    pub state: SandboxState,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The current state with its full history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lifecycle {
    history: Vec<Transition>,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self {
            history: vec![Transition {
                state: SandboxState::Starting,
                at_ms: now_ms(),
                reason: None,
            }],
        }
    }

    pub fn state(&self) -> SandboxState {
        self.history
            .last()
            .map_or(SandboxState::Starting, |t| t.state)
    }

    /// The reason of the latest transition (set for `error`).
    pub fn reason(&self) -> Option<&str> {
        self.history.last().and_then(|t| t.reason.as_deref())
    }

    pub fn history(&self) -> &[Transition] {
        &self.history
    }

    pub fn transition(
        &mut self,
        to: SandboxState,
        reason: Option<String>,
    ) -> Result<(), IllegalTransition> {
        let from = self.state();
        if !from.can_become(to) {
            return Err(IllegalTransition { from, to });
        }
        self.history.push(Transition {
            state: to,
            at_ms: now_ms(),
            reason,
        });
        Ok(())
    }
}

impl Lifecycle {
    /// Records `to` without the transition check. Only for recovery after a
    /// crash, where the last recorded state may be an interrupted one (e.g.
    /// `pausing`); the reason says so.
    pub fn force(&mut self, to: SandboxState, reason: String) {
        self.history.push(Transition {
            state: to,
            at_ms: now_ms(),
            reason: Some(reason),
        });
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SandboxState::*;

    #[test]
    fn transition_when_legal_then_recorded_with_time() {
        let mut life = Lifecycle::new();
        life.transition(Running, None).expect("starting → running");
        life.transition(Pausing, None).expect("running → pausing");
        life.transition(Paused, None).expect("pausing → paused");
        assert_eq!(life.state(), Paused);
        assert_eq!(life.history().len(), 4);
        assert!(life.history().windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }

    #[test]
    fn transition_when_illegal_then_typed_error_and_state_kept() {
        let mut life = Lifecycle::new();
        let err = life
            .transition(Paused, None)
            .expect_err("starting → paused is illegal");
        assert_eq!(
            err,
            IllegalTransition {
                from: Starting,
                to: Paused
            }
        );
        assert_eq!(life.state(), Starting);
    }

    #[test]
    fn stopped_when_any_transition_then_refused() {
        for next in [Starting, Running, Pausing, Paused, Resuming, Error, Stopped] {
            assert!(!Stopped.can_become(next), "stopped → {next}");
        }
    }

    #[test]
    fn error_when_recorded_then_reason_readable() {
        let mut life = Lifecycle::new();
        life.transition(Error, Some("envd not healthy".into()))
            .expect("starting → error");
        assert_eq!(life.reason(), Some("envd not healthy"));
    }
}
