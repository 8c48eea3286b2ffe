//! Traffic access tokens: what a sandbox created without public traffic
//! requires in `e2b-traffic-access-token` on its user ports. Only the
//! SHA-256 is stored; the token is shown once, in the create answer.
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a token: 40 symbols of a-z0-9 (206 bits).
const TOKEN_LEN: usize = 40;

/// A fresh token and the hash to store.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    pub hash: String,
}

pub fn mint() -> Minted {
    let token = wrenn_types::random_lowercase(TOKEN_LEN);
    let hash = hash(token.as_bytes());
    Minted { token, hash }
}

/// SHA-256 of `token`, lowercase hex.
pub fn hash(token: &[u8]) -> String {
    Sha256::digest(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `presented` is the token of `stored_hash`, compared in constant
/// time (over the hashes, so the length of the presented value leaks
/// nothing either).
pub fn matches(stored_hash: &str, presented: Option<&[u8]>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    bool::from(hash(presented).as_bytes().ct_eq(stored_hash.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_when_minted_token_then_true_else_false() {
        let minted = mint();
        assert_eq!(minted.token.len(), TOKEN_LEN);
        assert!(matches(&minted.hash, Some(minted.token.as_bytes())));
        assert!(!matches(&minted.hash, Some(b"wrong")));
        assert!(!matches(&minted.hash, Some(b"")));
        assert!(!matches(&minted.hash, None));
        assert_ne!(mint().token, minted.token);
    }
}
