//! Random strings for ids, from the OS's CSPRNG.

/// `len` random characters of `[a-z0-9]`, without modulo bias: bytes at or
/// above 252 (= 7 * 36) are discarded.
pub fn random_lowercase(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // An OS RNG that fails leaves no safe way to mint an unguessable id;
        // on Linux getrandom(2) only fails for invalid arguments.
        #[expect(clippy::expect_used, reason = "no safe fallback for a failing CSPRNG")]
        getrandom::fill(&mut buf).expect("the OS random number generator is available");
        for b in buf.iter().filter(|&&b| b < 252) {
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
    fn random_lowercase_when_drawn_then_length_alphabet_and_unique() {
        let a = super::random_lowercase(40);
        assert_eq!(a.len(), 40);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(a, super::random_lowercase(40));
    }
}
