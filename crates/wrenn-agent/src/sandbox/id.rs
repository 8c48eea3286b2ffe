//! Validated identifiers: sandbox IDs, template names, access tokens.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("sandbox id '{0}' is invalid: use 1-64 characters a-z, 0-9 and '-'")]
    SandboxId(String),
    #[error("template name '{0}' is invalid: use 1-63 characters a-z, 0-9, '-', '_' and '.', starting with a letter or digit")]
    TemplateName(String),
}

/// A sandbox ID: lowercase letters, digits and '-', at most 64 characters.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct SandboxId(String);

impl SandboxId {
    /// A fresh random ID (20 characters of a-z0-9, like E2B's).
    pub fn generate() -> Self {
        Self(random_string(20))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SandboxId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(value))
        } else {
            Err(IdError::SandboxId(value))
        }
    }
}

impl std::str::FromStr for SandboxId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
}

impl From<SandboxId> for String {
    fn from(id: SandboxId) -> String {
        id.0
    }
}

impl fmt::Display for SandboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A template name, safe to use as a path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TemplateName(String);

impl TemplateName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TemplateName {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        let bytes = value.as_bytes();
        let ok = (1..=63).contains(&bytes.len())
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
            && !value.contains("..");
        if ok {
            Ok(Self(value))
        } else {
            Err(IdError::TemplateName(value))
        }
    }
}

impl std::str::FromStr for TemplateName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_owned())
    }
}

impl From<TemplateName> for String {
    fn from(name: TemplateName) -> String {
        name.0
    }
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Random a-z0-9 string from the OS RNG, without modulo bias: bytes at or
/// above 252 (= 7 * 36) are discarded.
pub(crate) fn random_string(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // The OS RNG failing is unrecoverable for a security-relevant ID.
        getrandom::fill(&mut buf).expect("the OS random number generator is available");
        for b in buf.iter().filter(|&&b| b < 252) {
            if out.len() < len {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_id_when_generated_then_valid_and_unique() {
        let (a, b) = (SandboxId::generate(), SandboxId::generate());
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().parse::<SandboxId>().is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn sandbox_id_when_path_traversal_then_rejected() {
        assert!("../etc".parse::<SandboxId>().is_err());
        assert!("".parse::<SandboxId>().is_err());
        assert!("ABC".parse::<SandboxId>().is_err());
    }

    #[test]
    fn template_name_when_dots_then_only_single_dots_allowed() {
        assert!("code-interpreter-v1".parse::<TemplateName>().is_ok());
        assert!("py3.11".parse::<TemplateName>().is_ok());
        assert!("..".parse::<TemplateName>().is_err());
        assert!(".hidden".parse::<TemplateName>().is_err());
        assert!("a/b".parse::<TemplateName>().is_err());
    }

    #[test]
    fn access_token_when_debug_printed_then_redacted() {
        let token = AccessToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
