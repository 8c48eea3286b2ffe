//! Secrets at rest in sandbox records: the envd access token is sealed with
//! ChaCha20-Poly1305 under the host's state key (`/etc/wrenn/agent-state.key`,
//! 32 random bytes made 0600 on first start, outside the data directory), so
//! a copy of the data directory (a backup, a disk image, a leaked
//! `sandbox.json`) holds no usable token.
//!
//! Sealed rather than derived (HMAC of a host key and the sandbox id): the
//! records of running and paused sandboxes written by earlier agents carry
//! random tokens that their guests' envd already holds, and those must keep
//! working; sealing migrates them (a plaintext token still loads and is
//! written back sealed), where derivation could not.
//!
//! The key is installed once per process ([`StateKey::install`], by
//! `wrenn-agent serve`); a process that never installs one (tests, benches)
//! seals under a random key of its own, valid for its lifetime only.
use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    ChaCha20Poly1305, Key, Nonce,
};

use super::id::AccessToken;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

static INSTALLED: OnceLock<StateKey> = OnceLock::new();

#[derive(Debug, thiserror::Error)]
pub enum StateKeyError {
    #[error("cannot read the state key {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the state key {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state key {0} is not 32 bytes of base64; restore it from a backup (without it the envd tokens of existing sandboxes are lost), or delete it only if this host holds no sandboxes")]
    Malformed(PathBuf),
    #[error("the state key {path} is missing but {records} sandbox record(s) under {data} are sealed with a key: restore {path} from a backup, or delete those sandboxes")]
    Lost {
        path: PathBuf,
        data: PathBuf,
        records: usize,
    },
}

/// The key sealing secrets in this host's sandbox records. `Debug` hides it.
#[derive(Clone)]
pub struct StateKey(Key);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(<redacted>)")
    }
}

impl StateKey {
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// Reads the key at `path`, or makes one there (0600, parent 0700 when
    /// created) if there is none and no record under `sandboxes` is sealed
    /// (a lost key must not pass for a fresh host).
    pub fn load_or_create(path: &Path, sandboxes: &Path) -> Result<Self, StateKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = STANDARD
                    .decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == KEY_LEN)
                    .ok_or_else(|| StateKeyError::Malformed(path.to_owned()))?;
                Ok(Self(*Key::from_slice(&bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let records = sealed_records(sandboxes);
                if records > 0 {
                    return Err(StateKeyError::Lost {
                        path: path.to_owned(),
                        data: sandboxes.to_owned(),
                        records,
                    });
                }
                let key = Self::generate();
                key.create_file(path)
                    .map_err(|source| StateKeyError::Create {
                        path: path.to_owned(),
                        source,
                    })?;
                tracing::info!(path = %path.display(), "created the state key sealing envd tokens in sandbox records");
                Ok(key)
            }
            Err(source) => Err(StateKeyError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn create_file(&self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(parent) = path.parent().filter(|p| !p.exists()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        writeln!(file, "{}", STANDARD.encode(self.0))?;
        file.sync_all()
    }

    /// Makes this the key of every record this process reads and writes.
    /// The first key installed wins.
    pub fn install(self) {
        let _ = INSTALLED.set(self);
    }

    fn seal(&self, plain: &str) -> String {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption of an in-memory buffer cannot fail.
        let sealed = cipher.encrypt(&nonce, plain.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    fn open(&self, sealed: &str) -> Result<String, &'static str> {
        let bytes = STANDARD.decode(sealed).map_err(|_| "not base64")?;
        if bytes.len() <= NONCE_LEN {
            return Err("too short");
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let plain = ChaCha20Poly1305::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| "does not open with this host's state key (/etc/wrenn/agent-state.key)")?;
        String::from_utf8(plain).map_err(|_| "not UTF-8")
    }
}

fn key() -> &'static StateKey {
    INSTALLED.get_or_init(|| {
        tracing::debug!("no state key installed: sealing records under a per-process key");
        StateKey::generate()
    })
}

/// How many `sandbox.json` under `sandboxes` hold a sealed token.
fn sealed_records(sandboxes: &Path) -> usize {
    std::fs::read_dir(sandboxes)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join(super::record::RECORD_FILE))
                .is_ok_and(|t| t.contains("\"sealed\""))
        })
        .count()
}

/// On disk: `{"sealed": "<base64 nonce ‖ ciphertext>"}`; a plain string is
/// a record from an agent before sealing, read as is and sealed on its next
/// save.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Stored {
    Sealed { sealed: String },
    Plain(String),
}

/// `#[serde(with = "sealed::token")]` for the record's access token.
pub mod token {
    use super::{key, AccessToken, Stored};

    pub fn serialize<S: serde::Serializer>(t: &AccessToken, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(
            &Stored::Sealed {
                sealed: key().seal(t.expose()),
            },
            s,
        )
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AccessToken, D::Error> {
        match <Stored as serde::Deserialize>::deserialize(d)? {
            Stored::Plain(plain) => Ok(AccessToken::from_stored(plain)),
            Stored::Sealed { sealed } => key()
                .open(&sealed)
                .map(AccessToken::from_stored)
                .map_err(|why| serde::de::Error::custom(format!("access_token: {why}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_when_opened_with_same_key_then_plain_and_other_key_refused() {
        let key = StateKey::generate();
        let sealed = key.seal("token-123");
        assert!(!sealed.contains("token-123"));
        assert_ne!(sealed, key.seal("token-123"), "a fresh nonce each time");
        assert_eq!(key.open(&sealed).as_deref(), Ok("token-123"));
        assert!(StateKey::generate().open(&sealed).is_err());
    }

    #[test]
    fn load_or_create_when_missing_then_0600_and_same_key_next_time() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("etc/agent-state.key");
        let made = StateKey::load_or_create(&path, dir.path()).expect("made");
        let mode = std::fs::metadata(&path).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let parent = std::fs::metadata(path.parent().expect("parent"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(parent & 0o777, 0o700);
        let again = StateKey::load_or_create(&path, dir.path()).expect("read");
        assert_eq!(again.open(&made.seal("x")).as_deref(), Ok("x"));
    }

    #[test]
    fn load_or_create_when_missing_but_sealed_records_then_refuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sandboxes = dir.path().join("sandboxes");
        std::fs::create_dir_all(sandboxes.join("sb-1")).expect("dir");
        std::fs::write(
            sandboxes.join("sb-1/sandbox.json"),
            r#"{"access_token":{"sealed":"abc"}}"#,
        )
        .expect("record");
        let err =
            StateKey::load_or_create(&dir.path().join("key"), &sandboxes).expect_err("lost key");
        assert!(
            matches!(err, StateKeyError::Lost { records: 1, .. }),
            "{err}"
        );
        assert!(!dir.path().join("key").exists());
    }

    #[test]
    fn load_when_malformed_then_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, "short").expect("write");
        assert!(matches!(
            StateKey::load_or_create(&path, dir.path()),
            Err(StateKeyError::Malformed(_))
        ));
    }
}
