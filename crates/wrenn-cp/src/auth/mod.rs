//! Who is calling: passwords (argon2), user and host JWTs (HS256 with a
//! `typ` claim so that one kind is never accepted as the other), API keys
//! (`wrn_` + 32 characters, stored as SHA-256 hashes, verified ones cached
//! for a second: `key_cache`) and the [`Principal`]
//! extractor every authenticated handler takes.
pub mod api_key;
pub mod host;
pub mod jwt;
pub mod key_cache;
pub mod lockout;
pub mod password;
pub mod principal;
pub mod session;

pub use principal::{Actor, Principal, Role};

pub use crate::secret::random_token;

#[cfg(test)]
mod tests {
    #[test]
    fn random_token_when_drawn_then_length_and_alphabet() {
        let token = super::random_token(32);
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(token, super::random_token(32));
    }
}
