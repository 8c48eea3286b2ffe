//! A template's start spec: the command envd supervises in every sandbox
//! of the template and the ready check its memory snapshot waits for. It
//! lives as `start.json` beside `rootfs.ext4` in the template's image
//! version directory (written by images/rootfs/build.sh for built-in
//! templates, by a snapshot with a start spec for others) and travels to
//! envd as the body of `POST /wrenn/start`, so its fields are envd's
//! `StartSpec` field for field.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// The file beside `rootfs.ext4`.
pub const START_SPEC_FILE: &str = "start.json";
/// envd's ready timeout when the spec gives none (0).
pub const DEFAULT_READY_TIMEOUT_SECS: u32 = 120;
/// Longest ready timeout a spec may ask for.
pub const MAX_READY_TIMEOUT_SECS: u32 = 3600;
const MAX_COMMAND_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateStartSpec {
    pub start_command: String,
    /// Exit 0 means ready; empty: ready once started.
    #[serde(default)]
    pub ready_command: String,
    /// Empty: `user`.
    #[serde(default)]
    pub user: String,
    /// Empty: the user's home.
    #[serde(default)]
    pub workdir: String,
    /// The commands' environment, and the default environment of every
    /// command in the template's sandboxes (their own env vars override).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// 0: [`DEFAULT_READY_TIMEOUT_SECS`].
    #[serde(default)]
    pub ready_timeout_secs: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartSpecError {
    #[error("start_command is empty")]
    EmptyCommand,
    #[error("{0} is longer than {MAX_COMMAND_BYTES} bytes")]
    TooLong(&'static str),
    #[error("{0} contains a NUL byte")]
    NulByte(&'static str),
    #[error("invalid environment variable name {0:?} (letters, digits and '_', not starting with a digit)")]
    BadEnvName(String),
    #[error("environment variable {0:?} has a NUL byte in its value")]
    BadEnvValue(String),
    #[error("invalid user {0:?} (a Unix user name such as 'user' or 'root')")]
    BadUser(String),
    #[error("workdir {0:?} must be an absolute path")]
    RelativeWorkdir(String),
    #[error("ready_timeout_secs {0} is over the limit of {MAX_READY_TIMEOUT_SECS}")]
    TimeoutTooLong(u32),
}

/// Why an image's `start.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StartSpecFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid start spec: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{} holds an invalid start spec: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: StartSpecError,
    },
}

impl TemplateStartSpec {
    /// The checks envd makes, and a few more that envd would only find
    /// after the template VM booted (user name, workdir, timeout).
    pub fn validate(&self) -> Result<(), StartSpecError> {
        if self.start_command.trim().is_empty() {
            return Err(StartSpecError::EmptyCommand);
        }
        for (field, text) in [
            ("start_command", &self.start_command),
            ("ready_command", &self.ready_command),
            ("workdir", &self.workdir),
        ] {
            if text.len() > MAX_COMMAND_BYTES {
                return Err(StartSpecError::TooLong(field));
            }
            if text.contains('\0') {
                return Err(StartSpecError::NulByte(field));
            }
        }
        let user_ok = self.user.is_empty()
            || (self.user.len() <= 32
                && self
                    .user
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                && self.user.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                }));
        if !user_ok {
            return Err(StartSpecError::BadUser(self.user.clone()));
        }
        if !self.workdir.is_empty() && !self.workdir.starts_with('/') {
            return Err(StartSpecError::RelativeWorkdir(self.workdir.clone()));
        }
        for (key, value) in &self.env {
            let name_ok = key
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !name_ok {
                return Err(StartSpecError::BadEnvName(key.clone()));
            }
            if value.contains('\0') {
                return Err(StartSpecError::BadEnvValue(key.clone()));
            }
        }
        if self.ready_timeout_secs > MAX_READY_TIMEOUT_SECS {
            return Err(StartSpecError::TimeoutTooLong(self.ready_timeout_secs));
        }
        Ok(())
    }

    /// How long envd keeps trying the ready command.
    pub fn ready_timeout(&self) -> Duration {
        let secs = match self.ready_timeout_secs {
            0 => DEFAULT_READY_TIMEOUT_SECS,
            n => n,
        };
        Duration::from_secs(u64::from(secs))
    }

    /// The environment of a sandbox of this template: the spec's, with the
    /// sandbox's own variables over it.
    pub fn sandbox_env(&self, own: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        env.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The spec of the image `rootfs` (`.../<version>/rootfs.ext4`):
    /// `None` when its directory has no `start.json`.
    pub fn for_image(rootfs: &Path) -> Result<Option<Self>, StartSpecFileError> {
        let Some(dir) = rootfs.parent() else {
            return Ok(None);
        };
        Self::load(&dir.join(START_SPEC_FILE))
    }

    /// Reads and validates `path`; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, StartSpecFileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StartSpecFileError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let spec: Self = serde_json::from_str(&text).map_err(|e| StartSpecFileError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        spec.validate()
            .map_err(|source| StartSpecFileError::Invalid {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Some(spec))
    }

    /// Writes the spec as `start.json` into the image version directory `dir`.
    pub fn write_into(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(START_SPEC_FILE), text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: &str) -> TemplateStartSpec {
        TemplateStartSpec {
            start_command: start.into(),
            ready_command: String::new(),
            user: String::new(),
            workdir: String::new(),
            env: BTreeMap::new(),
            ready_timeout_secs: 0,
        }
    }

    #[test]
    fn load_when_built_in_file_then_parsed_with_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(START_SPEC_FILE),
            r#"{"start_command":"python3 -m http.server 8000","ready_command":"curl -fsS localhost:8000","user":"user","workdir":"/home/user","ready_timeout_secs":30}"#,
        )
        .expect("write");

        let loaded = TemplateStartSpec::for_image(&dir.path().join("rootfs.ext4"))
            .expect("valid")
            .expect("present");

        assert_eq!(loaded.start_command, "python3 -m http.server 8000");
        assert_eq!(loaded.ready_timeout(), Duration::from_secs(30));
        assert!(loaded.env.is_empty());
    }

    #[test]
    fn load_when_no_file_then_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            TemplateStartSpec::for_image(&dir.path().join("rootfs.ext4")),
            Ok(None)
        ));
    }

    #[test]
    fn load_when_unknown_field_then_parse_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(START_SPEC_FILE);
        std::fs::write(&path, r#"{"start_command":"x","cmd":"y"}"#).expect("write");

        let err = TemplateStartSpec::load(&path).expect_err("refused");

        assert!(matches!(err, StartSpecFileError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("start.json"), "{err}");
        assert!(err.to_string().contains("cmd"), "{err}");
    }

    #[test]
    fn load_when_empty_command_then_invalid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(START_SPEC_FILE);
        std::fs::write(&path, r#"{"start_command":"  "}"#).expect("write");

        let err = TemplateStartSpec::load(&path).expect_err("refused");

        assert!(
            matches!(&err, StartSpecFileError::Invalid { source, .. } if *source == StartSpecError::EmptyCommand),
            "{err}"
        );
    }

    #[test]
    fn validate_when_bad_fields_then_typed_errors() {
        let mut s = spec("run");
        s.user = "Bad User".into();
        assert!(matches!(s.validate(), Err(StartSpecError::BadUser(_))));
        let mut s = spec("run");
        s.workdir = "relative/dir".into();
        assert!(matches!(
            s.validate(),
            Err(StartSpecError::RelativeWorkdir(_))
        ));
        let mut s = spec("run");
        s.env.insert("A=B".into(), "x".into());
        assert!(matches!(s.validate(), Err(StartSpecError::BadEnvName(_))));
        let mut s = spec("run");
        s.env.insert("OK".into(), "a\0b".into());
        assert!(matches!(s.validate(), Err(StartSpecError::BadEnvValue(_))));
        let mut s = spec("run\0");
        assert_eq!(s.validate(), Err(StartSpecError::NulByte("start_command")));
        s = spec("run");
        s.ready_timeout_secs = MAX_READY_TIMEOUT_SECS + 1;
        assert!(matches!(
            s.validate(),
            Err(StartSpecError::TimeoutTooLong(_))
        ));
        s.ready_timeout_secs = 0;
        s.user = "root".into();
        s.workdir = "/srv".into();
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn sandbox_env_when_both_set_then_sandbox_wins() {
        let mut s = spec("run");
        s.env = BTreeMap::from([
            ("A".into(), "template".into()),
            ("B".into(), "template".into()),
        ]);
        let own = BTreeMap::from([("B".into(), "sandbox".into())]);

        let env = s.sandbox_env(&own);

        assert_eq!(env["A"], "template");
        assert_eq!(env["B"], "sandbox");
    }

    #[test]
    fn write_into_when_read_back_then_equal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = spec("exec sleep 1");
        s.env.insert("K".into(), "v".into());
        s.write_into(dir.path()).expect("write");

        let back = TemplateStartSpec::load(&dir.path().join(START_SPEC_FILE)).expect("load");

        assert_eq!(back, Some(s));
    }
}
