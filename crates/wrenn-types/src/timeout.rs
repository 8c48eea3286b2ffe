//! What happens to a sandbox when its timeout passes: one enum from the API
//! body to the agent's reaper (converted only at the proto wire).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TimeoutAction {
    /// Destroy the sandbox when its timeout passes.
    #[default]
    Kill,
    /// Pause it to disk instead; it can be resumed later.
    Pause,
}

impl TimeoutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Kill, Self::Pause]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for TimeoutAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TimeoutAction;

    #[test]
    fn timeout_action_when_json_then_lowercase_and_round_trip() {
        assert_eq!(
            serde_json::to_string(&TimeoutAction::Pause).ok().as_deref(),
            Some("\"pause\"")
        );
        for action in [TimeoutAction::Kill, TimeoutAction::Pause] {
            assert_eq!(TimeoutAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(TimeoutAction::parse("explode"), None);
    }
}
