//! Identifiers: sandbox IDs and template names (validated, from
//! `wrenn-types`) and the per-sandbox envd access token.
use std::fmt;

pub use wrenn_types::{IdError, SandboxId, TemplateName};

/// The per-sandbox envd access token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn generate() -> Self {
        Self(random_string(40))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A token read back from a record (see [`super::sealed`]).
    pub(crate) fn from_stored(token: String) -> Self {
        Self(token)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Random a-z0-9 string from the OS RNG (unbiased).
pub(crate) fn random_string(len: usize) -> String {
    wrenn_types::random_lowercase(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_when_debug_printed_then_redacted() {
        let token = AccessToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
