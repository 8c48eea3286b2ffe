//! API keys: `wrn_` followed by 32 random characters, or, in the form the
//! e2b SDKs up to 2.49 insist on, `e2b_` followed by 40 hex digits. Both
//! forms are valid on every API. Only the SHA-256 of a key is stored (keys
//! are high-entropy, so a slow hash adds nothing), with a display prefix so
//! that people can tell their keys apart.
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "wrn_";
const RANDOM_LEN: usize = 32;
/// The prefix of keys in E2B's form.
pub const E2B_KEY_PREFIX: &str = "e2b_";
/// 160 bits, as hex: E2B's own keys have this shape.
const E2B_HEX_LEN: usize = 40;

/// The shape of a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyForm {
    /// `wrn_` + 32 characters `[A-Za-z0-9]`.
    #[default]
    Wrenn,
    /// `e2b_` + 40 lowercase hex digits.
    E2b,
}

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
    generate_form(KeyForm::Wrenn)
}

/// A fresh key of `form`; the display prefix is the form's prefix and the
/// first 6 random characters.
pub fn generate_form(form: KeyForm) -> NewKey {
    let (prefix, secret) = match form {
        KeyForm::Wrenn => (
            KEY_PREFIX,
            format!("{KEY_PREFIX}{}", super::random_token(RANDOM_LEN)),
        ),
        KeyForm::E2b => (
            E2B_KEY_PREFIX,
            format!("{E2B_KEY_PREFIX}{}", random_hex(E2B_HEX_LEN)),
        ),
    };
    NewKey {
        hash: hash(&secret),
        prefix: secret[..prefix.len() + 6].to_owned(),
        secret,
    }
}

/// `len` lowercase hex digits from the OS's CSPRNG.
fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(2)];
    // A failing OS RNG leaves no safe way to mint secrets.
    #[expect(clippy::expect_used, reason = "no safe fallback for a failing CSPRNG")]
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(len);
    hex
}

/// The stored form of a key: its SHA-256, as 64 lowercase hex digits.
pub fn hash(secret: &str) -> String {
    hex(&digest(secret))
}

/// A key's SHA-256, raw (what [`super::key_cache`] is keyed by).
pub fn digest(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(secret.as_bytes()));
    out
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Whether `candidate` starts like a key of either form (rather than a JWT).
pub fn has_key_prefix(candidate: &str) -> bool {
    candidate.starts_with(KEY_PREFIX) || candidate.starts_with(E2B_KEY_PREFIX)
}

/// Whether `candidate` has the shape of a key of either form (checked
/// before any lookup).
pub fn looks_like_key(candidate: &str) -> bool {
    let wrenn = candidate.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let e2b = candidate.strip_prefix(E2B_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == E2B_HEX_LEN
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    wrenn || e2b
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
        assert_eq!(key.hash, hex(&digest(&key.secret)));
    }

    #[test]
    fn hash_when_known_input_then_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn looks_like_key_when_wrong_shape_then_false() {
        assert!(!looks_like_key("wrn_short"));
        assert!(!looks_like_key("eyJhbGciOi.JIUzI1NiJ9.x"));
        assert!(!looks_like_key("e2b_0123456789abcdef"));
        assert!(!looks_like_key(&format!("e2b_{}", "A".repeat(40))));
        assert!(!looks_like_key(&format!("e2b_{}", "g".repeat(40))));
    }

    #[test]
    fn generate_form_when_e2b_then_prefix_and_40_hex() {
        let key = generate_form(KeyForm::E2b);
        let hex = key.secret.strip_prefix("e2b_").expect("e2b_ prefix");
        assert_eq!(hex.len(), 40);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(looks_like_key(&key.secret));
        assert!(has_key_prefix(&key.secret));
        assert_eq!(key.prefix.len(), 10);
        assert!(key.secret.starts_with(&key.prefix));
        assert_ne!(key.secret, generate_form(KeyForm::E2b).secret);
    }
}
