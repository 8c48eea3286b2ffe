//! Host credentials (docs/hosts.md): one-time registration tokens
//! (`wrh_` + 32 characters, stored as SHA-256, valid `CP_HOST_TOKEN_TTL_SECS`),
//! and the per-host secret the control plane presents to a registered agent.
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TOKEN_PREFIX: &str = "wrh_";
const TOKEN_RANDOM_LEN: usize = 32;

/// A fresh registration token; `secret` is shown to its creator once.
#[derive(Debug)]
pub struct NewToken {
    pub secret: String,
    pub hash: String,
}

pub fn generate_token() -> NewToken {
    let secret = format!("{TOKEN_PREFIX}{}", super::random_token(TOKEN_RANDOM_LEN));
    NewToken {
        hash: super::api_key::hash(&secret),
        secret,
    }
}

/// Whether `candidate` has the shape of a registration token.
pub fn looks_like_token(candidate: &str) -> bool {
    candidate.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == TOKEN_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// The secret the control plane sends to host `host_id`'s agent, derived
/// from the control plane's key rather than stored: HMAC-SHA256(key, id).
pub fn agent_secret(key: &[u8], host_id: &str) -> String {
    // HMAC takes keys of any length.
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(b"wrenn agent secret\0");
    mac.update(host_id.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_token_when_called_then_shape_and_hash() {
        let token = generate_token();
        assert!(looks_like_token(&token.secret));
        assert_eq!(token.hash, super::super::api_key::hash(&token.secret));
        assert!(!looks_like_token("wrh_short"));
        assert!(!looks_like_token(&token.secret.replace("wrh_", "wrn_")));
    }

    #[test]
    fn agent_secret_when_derived_then_stable_per_host_and_key() {
        let a = agent_secret(b"key-one", "host_a");
        assert_eq!(a, agent_secret(b"key-one", "host_a"));
        assert_ne!(a, agent_secret(b"key-one", "host_b"));
        assert_ne!(a, agent_secret(b"key-two", "host_a"));
        assert_eq!(a.len(), 43);
    }
}
