//! A sandbox's state as the control plane records it and the API shows it,
//! and which transitions are legal. Every transition is written with a guard
//! on the current state, so two writers racing cannot both move a sandbox.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    /// Recorded; not yet handed to a host.
    Pending,
    /// The host is booting or restoring it; envd not ready yet.
    Starting,
    /// envd answered: commands and files work.
    Running,
    /// Snapshot on disk, no CPU or memory used.
    Paused,
    Stopped,
    /// Failed; `reason` says why.
    Error,
    /// Its host stopped answering; `reason` says since when.
    Lost,
}

impl SandboxState {
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Starting,
        Self::Running,
        Self::Paused,
        Self::Stopped,
        Self::Error,
        Self::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Error => "error",
            Self::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// States in which the sandbox holds resources on a host.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Starting | Self::Running | Self::Paused
        )
    }

    /// Whether `self → to` is a legal transition.
    pub fn can_become(self, to: Self) -> bool {
        use SandboxState::{Error, Lost, Paused, Pending, Running, Starting, Stopped};
        match (self, to) {
            (_, Error) => self != Stopped,
            (Pending, Starting | Stopped)
            | (Starting, Running | Stopped)
            | (Running, Paused | Stopped | Lost)
            | (Paused, Running | Stopped | Lost)
            | (Lost, Running | Paused | Stopped)
            // Destroying a failed sandbox releases what its host kept.
            | (Error, Stopped) => true,
            _ => false,
        }
    }

    /// The states a sandbox may be in to become `to`.
    pub fn sources_of(to: Self) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_become(to))
            .collect()
    }
}

impl std::fmt::Display for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SandboxState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        Self::parse(s).ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// A state name that is none of [`SandboxState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown sandbox state '{0}': use pending, starting, running, paused, stopped, error or lost"
)]
pub struct UnknownState(pub String);

#[cfg(test)]
mod tests {
    use super::SandboxState::{self, *};

    #[test]
    fn can_become_when_error_then_only_stopped() {
        assert!(Error.can_become(Stopped));
        assert!(!Error.can_become(Running));
    }

    #[test]
    fn can_become_when_stopped_then_nothing_else() {
        for to in SandboxState::ALL {
            assert!(!Stopped.can_become(to), "stopped → {to}");
        }
    }

    #[test]
    fn can_become_when_pause_resume_cycle_then_legal() {
        assert!(Running.can_become(Paused));
        assert!(Paused.can_become(Running));
        assert!(!Pending.can_become(Running), "running only after starting");
    }

    #[test]
    fn parse_when_every_state_then_round_trips() {
        for state in SandboxState::ALL {
            assert_eq!(state.as_str().parse::<SandboxState>(), Ok(state));
        }
        assert!("zombie".parse::<SandboxState>().is_err());
    }
}
