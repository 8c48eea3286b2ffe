//! Webhook signing secrets at rest: sealed with ChaCha20-Poly1305 under a
//! key every replica derives alike, HKDF-SHA256 of `CP_JWT_SECRET` (info
//! `wrenn webhook secret v1`), so a copy of the database (a backup, a
//! leaked dump) holds no usable secret. The control plane must hold the
//! secret itself to sign (HMAC), so it is sealed, not hashed.
//!
//! A sealed value reads `sealed:v1:` then base64 of nonce and ciphertext;
//! anything else is a plaintext secret written by an older build, which
//! still opens (and is written back sealed by its reader). A value that
//! will not open was sealed under another `CP_JWT_SECRET`: the team must
//! set its webhook again.
use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    ChaCha20Poly1305, Key, Nonce,
};
use hkdf::Hkdf;
use sha2::Sha256;

const PREFIX: &str = "sealed:v1:";
const INFO: &[u8] = b"wrenn webhook secret v1";
const NONCE_LEN: usize = 12;

/// Why a stored secret does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook's signing secret cannot be opened (sealed under another CP_JWT_SECRET, or damaged); set the webhook again (PUT /v1/webhook) to get a new secret")]
pub struct Unsealable;

/// A stored secret, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// It was sealed.
    Sealed(String),
    /// It was plaintext (an older build's row): seal it again.
    Plaintext(String),
}

impl Opened {
    pub fn secret(&self) -> &str {
        match self {
            Self::Sealed(s) | Self::Plaintext(s) => s,
        }
    }
}

/// The key sealing webhook secrets. `Debug` hides it.
#[derive(Clone)]
pub struct SealKey(Key);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    /// Derives the key from the control plane's `CP_JWT_SECRET`.
    pub fn derive(jwt_secret: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(None, jwt_secret);
        let mut okm = [0_u8; 32];
        #[expect(clippy::expect_used, reason = "32 bytes is a valid HKDF-SHA256 length")]
        hk.expand(INFO, &mut okm).expect("hkdf length");
        Self(*Key::from_slice(&okm))
    }

    /// The stored form of `secret`.
    pub fn seal(&self, secret: &str) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        #[expect(clippy::expect_used, reason = "encryption into a Vec cannot fail")]
        let sealed = cipher
            .encrypt(&nonce, secret.as_bytes())
            .expect("chacha20poly1305 encrypt");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// Opens a stored secret (sealed, or plaintext from an older build).
    pub fn open(&self, stored: &str) -> Result<Opened, Unsealable> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(Opened::Plaintext(stored.to_owned()));
        };
        let bytes = STANDARD.decode(encoded).map_err(|_| Unsealable)?;
        if bytes.len() <= NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = ChaCha20Poly1305::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| Unsealable)?;
        String::from_utf8(plain)
            .map(Opened::Sealed)
            .map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_when_opened_with_same_key_then_secret_back() {
        let key = SealKey::derive(b"a jwt secret of at least 32 characters");
        let stored = key.seal("whsec_abc");
        assert!(stored.starts_with(PREFIX), "{stored}");
        assert!(!stored.contains("whsec_abc"));
        assert_ne!(stored, key.seal("whsec_abc"), "a fresh nonce each time");
        let again = SealKey::derive(b"a jwt secret of at least 32 characters");
        assert_eq!(again.open(&stored), Ok(Opened::Sealed("whsec_abc".into())));
    }

    #[test]
    fn open_when_other_key_or_damaged_then_unsealable() {
        let key = SealKey::derive(b"a jwt secret of at least 32 characters");
        let other = SealKey::derive(b"another jwt secret, rotated, 32+ chars");
        let stored = key.seal("whsec_abc");
        assert_eq!(other.open(&stored), Err(Unsealable));
        assert_eq!(key.open("sealed:v1:!!"), Err(Unsealable));
        assert_eq!(key.open("sealed:v1:AAAA"), Err(Unsealable));
        let mut flipped = stored.into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap_or_default();
        assert_eq!(key.open(&flipped), Err(Unsealable));
        assert!(Unsealable.to_string().contains("set the webhook again"));
    }

    #[test]
    fn open_when_plaintext_from_older_build_then_plaintext() {
        let key = SealKey::derive(b"a jwt secret of at least 32 characters");
        assert_eq!(
            key.open("whsec_old"),
            Ok(Opened::Plaintext("whsec_old".into()))
        );
    }
}
