//! The CLI's configuration file (`config.toml`, mode 0600) and the resolution
//! of the settings a command runs with: flag > environment > file > default.
//! Clap already folds flag and environment into one `Option`, so resolution
//! here only weighs that against the file and the defaults.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::Credential;

/// The API URL used when neither flag, environment nor file name one.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8000";

/// What `config.toml` holds. At most one of `token` and `api_key` is set by
/// the CLI itself; when a hand-edited file has both, the API key wins.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// A user JWT from `wrenn login` or `wrenn signup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// An API key saved by `wrenn keys create --save`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigFile")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_expires_at", &self.token_expires_at)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ConfigFile {
    /// The stored credential, if any.
    pub fn credential(&self) -> Option<Credential> {
        match (&self.api_key, &self.token) {
            (Some(key), _) => Some(Credential::ApiKey(key.clone())),
            (None, Some(token)) => Some(Credential::Token(token.clone())),
            (None, None) => None,
        }
    }

    /// Replaces whatever credential is stored with `credential`.
    pub fn set_credential(&mut self, credential: Credential, expires_at: Option<String>) {
        self.clear_credential();
        match credential {
            Credential::Token(token) => {
                self.token = Some(token);
                self.token_expires_at = expires_at;
            }
            Credential::ApiKey(key) => self.api_key = Some(key),
        }
    }

    pub fn clear_credential(&mut self) {
        self.token = None;
        self.token_expires_at = None;
        self.api_key = None;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// none of WRENN_CONFIG_DIR, XDG_CONFIG_HOME and HOME is set
    #[error("cannot find a configuration directory: set WRENN_CONFIG_DIR or HOME")]
    NoDirectory,
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the configuration")]
    Encode(#[source] toml::ser::Error),
}

/// The directory holding `config.toml`: `$WRENN_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/wrenn`, else `$HOME/.config/wrenn`.
pub fn config_dir(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, ConfigError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("WRENN_CONFIG_DIR") {
        return Ok(dir);
    }
    if let Some(xdg) = set("XDG_CONFIG_HOME") {
        return Ok(xdg.join("wrenn"));
    }
    set("HOME")
        .map(|home| home.join(".config").join("wrenn"))
        .ok_or(ConfigError::NoDirectory)
}

/// Where the configuration lives; loads and saves [`ConfigFile`].
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
}

impl ConfigStore {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("config.toml"),
        }
    }

    /// The store at the place the process environment names.
    pub fn from_env() -> Result<Self, ConfigError> {
        config_dir(|name| std::env::var_os(name)).map(|dir| Self::in_dir(&dir))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored configuration; an absent file is an empty configuration.
    pub fn load(&self) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: self.path.clone(),
            source,
        })
    }

    /// Writes `config` atomically (temporary file, then rename) with mode 0600.
    pub fn save(&self, config: &ConfigFile) -> Result<(), ConfigError> {
        let text = toml::to_string(config).map_err(ConfigError::Encode)?;
        let write_err = |source| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(write_err)?;
        }
        let tmp = self.path.with_extension("toml.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write_err)?;
        // A leftover temporary file may predate us with wider permissions.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write_err)?;
        file.write_all(text.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, &self.path).map_err(write_err)
    }
}

/// The settings one command runs with.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    pub api_url: String,
    pub credential: Option<Credential>,
    pub team: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_url", &self.api_url)
            .field("credential", &self.credential)
            .field("team", &self.team)
            .finish()
    }
}

/// What the command line (flags, or their environment variables) gave.
#[derive(Clone, Default)]
pub struct Overrides {
    pub api_url: Option<String>,
    pub api_key: Option<String>,
    pub team: Option<String>,
}

/// Weighs the command line against the file and the defaults.
pub fn resolve(overrides: &Overrides, file: &ConfigFile) -> Settings {
    let api_url = overrides
        .api_url
        .clone()
        .or_else(|| file.api_url.clone())
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let credential = overrides
        .api_key
        .clone()
        .map(Credential::ApiKey)
        .or_else(|| file.credential());
    Settings {
        api_url,
        credential,
        team: overrides.team.clone(),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
