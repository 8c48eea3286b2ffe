//! API keys: `wrn_` followed by 32 random characters. Only the SHA-256 of a
//! key is stored (keys are high-entropy, so a slow hash adds nothing), with
//! a display prefix so that people can tell their keys apart.
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "wrn_";
const RANDOM_LEN: usize = 32;

/// A freshly minted key; `secret` is shown to its creator once.
#[derive(Debug)]
pub struct NewKey {
    pub secret: String,
    pub hash: String,
    /// `wrn_` + the first 6 random characters, kept for display.
    pub prefix: String,
}

/// Who a key belongs to, which decides whether it outlives its creator's
/// membership (docs/api.md, "API keys").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyOwner {
    /// The creator's: revoked when they leave the team or are deleted.
    User,
    /// The team's: only team owners create one; it survives its creator.
    Team,
}

impl KeyOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Team => "team",
        }
    }

    /// Stored values; anything else reads as the stricter `user`.
    pub fn parse(s: &str) -> Self {
        if s == "team" {
            Self::Team
        } else {
            Self::User
        }
    }
}

pub fn generate() -> NewKey {
    let secret = format!("{KEY_PREFIX}{}", super::random_token(RANDOM_LEN));
    NewKey {
        hash: hash(&secret),
        prefix: secret[..KEY_PREFIX.len() + 6].to_owned(),
        secret,
    }
}

pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `candidate` has the shape of a key (checked before any lookup).
pub fn looks_like_key(candidate: &str) -> bool {
    candidate.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_when_called_then_key_shape_and_hash_match() {
        let key = generate();
        assert!(looks_like_key(&key.secret));
        assert_eq!(key.hash, hash(&key.secret));
        assert!(key.secret.starts_with(&key.prefix));
        assert_eq!(key.hash.len(), 64);
    }

    #[test]
    fn looks_like_key_when_wrong_shape_then_false() {
        assert!(!looks_like_key("wrn_short"));
        assert!(!looks_like_key("eyJhbGciOi.JIUzI1NiJ9.x"));
    }
}
