//! The token file (`AGENT_TOKEN_FILE`): what registration leaves behind and
//! later starts load. `{cp_url, host_id, host_token, agent_secret}` as JSON,
//! written atomically (a 0600 temp file in the same directory, fsync, rename,
//! fsync of the directory), so a crash leaves either no file or a whole one.
use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::input::CpUrl;
use crate::rpc::{auth::SecretError, Secret};

/// Default file name inside the data directory.
pub const TOKEN_FILE_NAME: &str = "host-token";

/// A registered host's credentials. `Debug` redacts both secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCredentials {
    pub cp_url: String,
    pub host_id: String,
    /// JWT (`typ=host`) sent as `X-Host-Token` with each heartbeat.
    pub host_token: String,
    /// What the control plane presents to this agent (`Authorization: Bearer`).
    pub agent_secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the token file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the token file {path} is not the JSON registration leaves; delete it and register again"
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the token file {path} holds an invalid {field}; delete it and register again")]
    Field { path: PathBuf, field: &'static str },
    #[error("the token file {path} holds an unusable agent_secret; delete it and register again")]
    Secret {
        path: PathBuf,
        #[source]
        source: SecretError,
    },
    #[error("cannot write the token file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HostCredentials {
    /// Reads and checks a token file.
    pub fn load(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let creds: Self =
            serde_json::from_str(&text).map_err(|source| CredentialsError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let field = |field| CredentialsError::Field {
            path: path.to_owned(),
            field,
        };
        creds.cp_url.parse::<CpUrl>().map_err(|_| field("cp_url"))?;
        if !creds.host_id.starts_with("host_") || creds.host_id.len() > 64 {
            return Err(field("host_id"));
        }
        if creds.host_token.is_empty() || creds.host_token.chars().any(char::is_whitespace) {
            return Err(field("host_token"));
        }
        creds.secret().map_err(|source| CredentialsError::Secret {
            path: path.to_owned(),
            source,
        })?;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "the token file is readable by others; chmod 600 it");
            }
        }
        Ok(creds)
    }

    /// Writes the file atomically with mode 0600 (never briefly wider).
    pub fn save(&self, path: &Path) -> Result<(), CredentialsError> {
        let write_err = |source| CredentialsError::Write {
            path: path.to_owned(),
            source,
        };
        let (dir, temp) = temp_beside(path).map_err(write_err)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| write_err(e.into()))?;
        let written = (|| {
            let mut file = create_private(&temp)?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temp, path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(write_err)
    }

    /// Checks that a token file can be written at `path` (its directory
    /// exists or can be made, and takes a new file), so that registration
    /// does not consume a token it cannot keep.
    pub fn check_writable(path: &Path) -> Result<(), CredentialsError> {
        let write_err = |source| CredentialsError::Write {
            path: path.to_owned(),
            source,
        };
        let (_, temp) = temp_beside(path).map_err(write_err)?;
        create_private(&temp).map_err(write_err)?;
        std::fs::remove_file(&temp).map_err(write_err)
    }

    /// The agent's secret for incoming calls.
    pub fn secret(&self) -> Result<Secret, SecretError> {
        Secret::new(&self.agent_secret)
    }
}

/// The directory of `path` (created if missing) and a free temp name in it.
fn temp_beside(path: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    std::fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| TOKEN_FILE_NAME.to_owned());
    let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    match std::fs::remove_file(&temp) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    Ok((dir, temp))
}

/// A new file readable by its owner only, from the moment it exists.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

impl std::fmt::Debug for HostCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCredentials")
            .field("cp_url", &self.cp_url)
            .field("host_id", &self.host_id)
            .field("host_token", &"<redacted>")
            .field("agent_secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> HostCredentials {
        HostCredentials {
            cp_url: "http://10.0.0.1:8000".into(),
            host_id: "host_abcdefghij0123456789".into(),
            host_token: "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJob3N0In0.sig".into(),
            agent_secret: "0123456789abcdefghij0123456789abcdefghijABC".into(),
        }
    }

    #[test]
    fn save_then_load_when_round_trip_then_equal_and_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/host-token");
        creds().save(&path).expect("save");
        assert_eq!(HostCredentials::load(&path).expect("load"), creds());
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
    }

    #[test]
    fn save_when_file_exists_then_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host-token");
        std::fs::write(&path, "old").expect("write");
        creds().save(&path).expect("save");
        assert_eq!(HostCredentials::load(&path).expect("load"), creds());
    }

    #[test]
    fn load_when_json_is_the_documented_shape_then_fields_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host-token");
        let c = creds();
        let json = format!(
            r#"{{"cp_url":"{}","host_id":"{}","host_token":"{}","agent_secret":"{}"}}"#,
            c.cp_url, c.host_id, c.host_token, c.agent_secret
        );
        std::fs::write(&path, json).expect("write");
        let loaded = HostCredentials::load(&path).expect("load");
        assert_eq!(loaded.secret().expect("secret").expose(), c.agent_secret);
    }

    #[test]
    fn load_when_field_invalid_then_error_names_it_and_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host-token");
        for (field, mutate) in [
            (
                "cp_url",
                (|c: &mut HostCredentials| c.cp_url = "ftp://x".into()) as fn(&mut HostCredentials),
            ),
            ("host_id", |c| c.host_id = "sb_1".into()),
            ("host_token", |c| c.host_token = String::new()),
            ("agent_secret", |c| c.agent_secret = "short".into()),
        ] {
            let mut c = creds();
            mutate(&mut c);
            std::fs::write(&path, serde_json::to_string(&c).expect("json")).expect("write");
            let err = HostCredentials::load(&path).expect_err(field).to_string();
            assert!(
                err.contains(field) && err.contains("register again"),
                "{err}"
            );
        }
    }

    #[test]
    fn check_writable_when_directory_usable_then_ok_and_nothing_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new/host-token");
        HostCredentials::check_writable(&path).expect("writable");
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_dir(path.parent().expect("dir"))
                .expect("list")
                .count(),
            0
        );
    }

    #[test]
    fn check_writable_when_parent_is_a_file_then_write_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").expect("write");
        assert!(matches!(
            HostCredentials::check_writable(&file.join("host-token")),
            Err(CredentialsError::Write { .. })
        ));
    }

    #[test]
    fn load_when_not_json_then_parse_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host-token");
        std::fs::write(&path, "wrh_notjson").expect("write");
        assert!(matches!(
            HostCredentials::load(&path),
            Err(CredentialsError::Parse { .. })
        ));
    }

    #[test]
    fn debug_when_printed_then_secrets_redacted() {
        let text = format!("{:?}", creds());
        assert!(!text.contains(&creds().host_token));
        assert!(!text.contains(&creds().agent_secret));
        assert!(text.contains("host_abcdefghij0123456789"));
    }
}
