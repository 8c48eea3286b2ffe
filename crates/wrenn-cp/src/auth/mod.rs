//! Who is calling: passwords (argon2), user and host JWTs (HS256 with a
//! `typ` claim so that one kind is never accepted as the other), API keys
//! (`wrn_` + 32 characters, stored as SHA-256 hashes) and the [`Principal`]
//! extractor every authenticated handler takes.
pub mod api_key;
pub mod host;
pub mod jwt;
pub mod password;
pub mod principal;

pub use principal::{Actor, Principal, Role};

/// `len` random characters from `[A-Za-z0-9]`, from the OS's CSPRNG.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // A failing OS RNG leaves no safe way to mint secrets.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut buf).expect("the OS random number generator failed");
        // 62 * 4 = 248: rejecting bytes >= 248 keeps the draw uniform.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
        }
    }
    out
}

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
