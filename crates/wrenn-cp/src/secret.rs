//! Secrets in memory: [`SecretString`], whose `Debug` never shows it, and
//! [`random_token`], the one way the control plane mints random secrets.
//! A leaf module: configuration, authentication and the agent clients all
//! use it, so it imports nothing of the crate.

/// A secret string whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `len` random characters from `[A-Za-z0-9]`, from the OS's CSPRNG.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // A failing OS RNG leaves no safe way to mint secrets.
        #[expect(clippy::expect_used, reason = "no safe fallback for a failing CSPRNG")]
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
