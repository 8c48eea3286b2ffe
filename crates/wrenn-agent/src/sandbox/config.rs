//! What a caller asks for when creating a sandbox, and its validation. Limits
//! come from the host; every rejection names the field and the allowed range.
use std::collections::BTreeMap;

use super::id::TemplateName;
use crate::network::{EgressPolicy, PolicyError};

/// What to do when a sandbox's inactivity timeout passes (the one type the
/// control plane's API uses too).
pub use wrenn_types::TimeoutAction;

/// Egress as the caller writes it (CIDR strings), parsed by [`SandboxConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EgressSpec {
    pub internet: bool,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

impl Default for EgressSpec {
    fn default() -> Self {
        Self {
            internet: true,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// A request to create a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SandboxConfig {
    pub template: TemplateName,
    pub vcpus: u8,
    pub memory_mib: u32,
    /// Disk size; `None` keeps the template's size.
    #[serde(default)]
    pub disk_mib: Option<u64>,
    pub timeout_secs: u64,
    #[serde(default)]
    pub on_timeout: TimeoutAction,
    #[serde(default)]
    pub env_vars: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub egress: EgressSpec,
}

/// Host-dependent bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_vcpus: u8,
    pub max_memory_mib: u32,
    pub max_disk_mib: u64,
}

pub const MIN_MEMORY_MIB: u32 = 128;
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;
const MAX_ENV_VARS: usize = 256;
const MAX_ENV_VALUE: usize = 32 * 1024;
const MAX_METADATA: usize = 64;
const MAX_METADATA_KEY: usize = 128;
const MAX_METADATA_VALUE: usize = 1024;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("vcpus must be between 1 and {max}, got {got}")]
    Vcpus { got: u8, max: u8 },
    #[error("memory_mib must be between {MIN_MEMORY_MIB} and {max}, got {got}")]
    Memory { got: u32, max: u32 },
    #[error("disk_mib must be at most {max}, got {got}")]
    Disk { got: u64, max: u64 },
    #[error("timeout must be between 1 and {MAX_TIMEOUT_SECS} seconds, got {0}")]
    Timeout(u64),
    #[error("environment variable name '{0}' is invalid: use letters, digits and '_', not starting with a digit")]
    EnvName(String),
    #[error(
        "environment variables: at most {MAX_ENV_VARS}, each value at most {MAX_ENV_VALUE} bytes"
    )]
    EnvTooLarge,
    #[error("metadata: at most {MAX_METADATA} entries, keys up to {MAX_METADATA_KEY} and values up to {MAX_METADATA_VALUE} bytes")]
    MetadataTooLarge,
    #[error("egress policy: {0}")]
    Egress(#[from] PolicyError),
}

impl SandboxConfig {
    /// Checks every field against `limits`; returns the parsed egress policy.
    pub fn validate(&self, limits: &Limits) -> Result<EgressPolicy, ConfigError> {
        if self.vcpus == 0 || self.vcpus > limits.max_vcpus {
            return Err(ConfigError::Vcpus {
                got: self.vcpus,
                max: limits.max_vcpus,
            });
        }
        if self.memory_mib < MIN_MEMORY_MIB || self.memory_mib > limits.max_memory_mib {
            return Err(ConfigError::Memory {
                got: self.memory_mib,
                max: limits.max_memory_mib,
            });
        }
        if let Some(disk) = self.disk_mib.filter(|&d| d > limits.max_disk_mib) {
            return Err(ConfigError::Disk {
                got: disk,
                max: limits.max_disk_mib,
            });
        }
        if self.timeout_secs == 0 || self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err(ConfigError::Timeout(self.timeout_secs));
        }
        if let Some(name) = self.env_vars.keys().find(|k| !valid_env_name(k)) {
            return Err(ConfigError::EnvName(name.clone()));
        }
        if self.env_vars.len() > MAX_ENV_VARS
            || self.env_vars.values().any(|v| v.len() > MAX_ENV_VALUE)
        {
            return Err(ConfigError::EnvTooLarge);
        }
        let metadata_ok = self.metadata.len() <= MAX_METADATA
            && self
                .metadata
                .iter()
                .all(|(k, v)| k.len() <= MAX_METADATA_KEY && v.len() <= MAX_METADATA_VALUE);
        if !metadata_ok {
            return Err(ConfigError::MetadataTooLarge);
        }
        Ok(EgressPolicy::parse(
            self.egress.internet,
            &self.egress.allow,
            &self.egress.deny,
        )?)
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_vcpus: 4,
        max_memory_mib: 8192,
        max_disk_mib: 65536,
    };

    fn config() -> SandboxConfig {
        SandboxConfig {
            template: "base".parse().expect("valid"),
            vcpus: 2,
            memory_mib: 512,
            disk_mib: None,
            timeout_secs: 300,
            on_timeout: TimeoutAction::Kill,
            env_vars: BTreeMap::new(),
            metadata: BTreeMap::new(),
            egress: EgressSpec::default(),
        }
    }

    #[test]
    fn validate_when_defaults_then_ok() {
        assert!(config().validate(&LIMITS).is_ok());
    }

    #[test]
    fn validate_when_too_many_vcpus_then_error_names_range() {
        let err = SandboxConfig {
            vcpus: 9,
            ..config()
        }
        .validate(&LIMITS)
        .expect_err("too many");
        assert_eq!(err.to_string(), "vcpus must be between 1 and 4, got 9");
    }

    #[test]
    fn validate_when_tiny_memory_then_error() {
        let err = SandboxConfig {
            memory_mib: 16,
            ..config()
        }
        .validate(&LIMITS)
        .expect_err("too small");
        assert!(matches!(err, ConfigError::Memory { got: 16, .. }));
    }

    #[test]
    fn validate_when_zero_timeout_then_error() {
        assert_eq!(
            SandboxConfig {
                timeout_secs: 0,
                ..config()
            }
            .validate(&LIMITS),
            Err(ConfigError::Timeout(0))
        );
    }

    #[test]
    fn validate_when_bad_env_name_then_error_names_it() {
        let mut cfg = config();
        cfg.env_vars.insert("1BAD=".into(), "x".into());
        assert_eq!(
            cfg.validate(&LIMITS),
            Err(ConfigError::EnvName("1BAD=".into()))
        );
    }

    #[test]
    fn validate_when_bad_cidr_then_egress_error() {
        let mut cfg = config();
        cfg.egress.allow.push("10.0.0.0/33".into());
        assert!(matches!(cfg.validate(&LIMITS), Err(ConfigError::Egress(_))));
    }
}
