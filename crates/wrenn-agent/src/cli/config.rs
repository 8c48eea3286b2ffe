//! `wrenn-agent serve` configuration: every `AGENT_*` variable (and
//! `WRENN_DATA_DIR`) read once into [`ServeConfig`], validated, with defaults.
//! `Debug` redacts the secret.
use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use wrenn_agent::{
    network::NetworkConfig,
    paths::DEFAULT_DATA_DIR,
    rpc::{host, Secret},
    sandbox::{config::MIN_MEMORY_MIB, Limits, TemplateName},
    tls::TlsFiles,
    vmm::AccelChoice,
};

pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50051";
const DEFAULT_READY_TIMEOUT_SECS: u64 = 120;
const DEFAULT_MAX_DISK_MIB: u64 = 64 * 1024;

/// Which VMM to run (`AGENT_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// Firecracker where it can run, QEMU otherwise.
    Auto,
    Qemu,
    Firecracker,
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "qemu" => Ok(Self::Qemu),
            "firecracker" => Ok(Self::Firecracker),
            _ => Err(format!("'{s}': expected auto, qemu or firecracker")),
        }
    }
}

/// A template snapshot to build after start-up (`name:vcpus:memory_mib`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSpec {
    pub template: TemplateName,
    pub vcpus: u8,
    pub memory_mib: u32,
}

impl FromStr for WarmSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [name, vcpus, memory] = parts[..] else {
            return Err(format!("'{s}': expected template:vcpus:memory_mib"));
        };
        Ok(Self {
            template: name.parse().map_err(|e| format!("{e}"))?,
            vcpus: vcpus
                .parse()
                .map_err(|_| format!("'{s}': vcpus '{vcpus}' is not a number"))?,
            memory_mib: memory
                .parse()
                .map_err(|_| format!("'{s}': memory_mib '{memory}' is not a number"))?,
        })
    }
}

#[derive(Debug)]
pub struct ServeConfig {
    pub listen_addr: SocketAddr,
    pub secret: Secret,
    pub data_dir: PathBuf,
    pub accel: AccelChoice,
    pub backend: BackendChoice,
    pub network: NetworkConfig,
    pub limits: Limits,
    pub ready_timeout: Duration,
    pub warm_templates: Vec<WarmSpec>,
    /// `AGENT_TLS_CERT`, `AGENT_TLS_KEY`, `AGENT_TLS_CLIENT_CA`: HTTPS (and
    /// mTLS) when set; plain HTTP otherwise.
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("no shared secret: set AGENT_SECRET, or AGENT_SECRET_FILE to a file holding it (at least 16 characters); the control plane sends it as `Authorization: Bearer <secret>`")]
    MissingSecret,
    #[error("set only one of AGENT_SECRET and AGENT_SECRET_FILE")]
    TwoSecrets,
    #[error("AGENT_SECRET_FILE: cannot read {path}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(var: &'static str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        var,
        message: message.to_string(),
    }
}

impl ServeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        fn parsed<T: FromStr>(
            get: &impl Fn(&str) -> Option<String>,
            var: &'static str,
            default: T,
        ) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            match get(var) {
                None => Ok(default),
                Some(raw) => raw.trim().parse().map_err(|e| invalid(var, e)),
            }
        }
        let secret = match (get("AGENT_SECRET"), get("AGENT_SECRET_FILE")) {
            (None, None) => return Err(ConfigError::MissingSecret),
            (Some(_), Some(_)) => return Err(ConfigError::TwoSecrets),
            (Some(raw), None) => Secret::new(&raw).map_err(|e| invalid("AGENT_SECRET", e))?,
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let raw = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::SecretFile { path, source })?;
                Secret::new(&raw).map_err(|e| invalid("AGENT_SECRET_FILE", e))?
            }
        };
        let defaults = NetworkConfig::default();
        let network = NetworkConfig {
            host_range: parsed(&get, "AGENT_HOST_RANGE", defaults.host_range)?,
            max_slots: parsed(&get, "AGENT_MAX_SLOTS", defaults.max_slots)?,
            dns: parsed(&get, "AGENT_DNS", defaults.dns)?,
            guest_link: defaults.guest_link,
        };
        network
            .validate()
            .map_err(|e| invalid("AGENT_HOST_RANGE/AGENT_MAX_SLOTS", e))?;
        let host_vcpus = u8::try_from(host::host_cpus()).unwrap_or(u8::MAX);
        let host_memory = host::MemInfo::read()
            .map_or(u32::MAX, |m| u32::try_from(m.total_mib).unwrap_or(u32::MAX));
        let limits = Limits {
            max_vcpus: parsed(&get, "AGENT_MAX_VCPUS", host_vcpus)?,
            max_memory_mib: parsed(&get, "AGENT_MAX_MEMORY_MIB", host_memory)?,
            max_disk_mib: parsed(&get, "AGENT_MAX_DISK_MIB", DEFAULT_MAX_DISK_MIB)?,
        };
        if limits.max_vcpus == 0 {
            return Err(invalid("AGENT_MAX_VCPUS", "must be at least 1"));
        }
        if limits.max_memory_mib < MIN_MEMORY_MIB {
            return Err(invalid(
                "AGENT_MAX_MEMORY_MIB",
                format!("must be at least {MIN_MEMORY_MIB}"),
            ));
        }
        let ready_secs: u64 = parsed(&get, "AGENT_READY_TIMEOUT_SECS", DEFAULT_READY_TIMEOUT_SECS)?;
        if ready_secs == 0 {
            return Err(invalid("AGENT_READY_TIMEOUT_SECS", "must be at least 1"));
        }
        let warm_templates = get("AGENT_WARM_TEMPLATES")
            .map(|raw| {
                raw.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(WarmSpec::from_str)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| invalid("AGENT_WARM_TEMPLATES", e))?
            .unwrap_or_default();
        Ok(Self {
            listen_addr: parsed(
                &get,
                "AGENT_LISTEN_ADDR",
                DEFAULT_LISTEN_ADDR
                    .parse()
                    .map_err(|e| invalid("AGENT_LISTEN_ADDR", e))?,
            )?,
            secret,
            data_dir: get("WRENN_DATA_DIR").map_or_else(|| DEFAULT_DATA_DIR.into(), PathBuf::from),
            accel: parsed(&get, "AGENT_ACCEL", AccelChoice::Auto)?,
            backend: parsed(&get, "AGENT_BACKEND", BackendChoice::Auto)?,
            network,
            limits,
            ready_timeout: Duration::from_secs(ready_secs),
            warm_templates,
            tls: TlsFiles::from_lookup(&get).map_err(|e| invalid("AGENT_TLS_*", e))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef-secret";

    fn load(vars: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ServeConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn from_lookup_when_only_secret_then_defaults() {
        let config = load(&[("AGENT_SECRET", SECRET)]).expect("valid");
        assert_eq!(config.listen_addr.to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(config.backend, BackendChoice::Auto);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(config.warm_templates.is_empty());
    }

    #[test]
    fn from_lookup_when_no_secret_then_refuses() {
        assert!(matches!(load(&[]), Err(ConfigError::MissingSecret)));
    }

    #[test]
    fn from_lookup_when_both_secrets_then_refuses() {
        let err = load(&[("AGENT_SECRET", SECRET), ("AGENT_SECRET_FILE", "/x")]);
        assert!(matches!(err, Err(ConfigError::TwoSecrets)));
    }

    #[test]
    fn from_lookup_when_secret_file_then_read_and_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{SECRET}\n")).expect("write");
        let config = load(&[("AGENT_SECRET_FILE", path.to_str().expect("utf-8"))]).expect("valid");
        assert_eq!(config.secret.expose(), SECRET);
    }

    #[test]
    fn debug_when_printed_then_secret_redacted() {
        let config = load(&[("AGENT_SECRET", SECRET)]).expect("valid");
        assert!(!format!("{config:?}").contains(SECRET));
    }

    #[test]
    fn from_lookup_when_warm_templates_then_parsed() {
        let config = load(&[
            ("AGENT_SECRET", SECRET),
            ("AGENT_WARM_TEMPLATES", "base:1:512, base:2:1024"),
        ])
        .expect("valid");
        assert_eq!(config.warm_templates.len(), 2);
        assert_eq!(config.warm_templates[1].vcpus, 2);
        assert_eq!(config.warm_templates[1].memory_mib, 1024);
    }

    #[test]
    fn from_lookup_when_bad_values_then_error_names_variable() {
        for (var, value) in [
            ("AGENT_BACKEND", "vmware"),
            ("AGENT_LISTEN_ADDR", "nowhere"),
            ("AGENT_WARM_TEMPLATES", "base:1"),
            ("AGENT_MAX_SLOTS", "0"),
            ("AGENT_ACCEL", "hvf"),
            ("AGENT_TLS_CERT", "/etc/wrenn/agent.crt"),
        ] {
            let err = load(&[("AGENT_SECRET", SECRET), (var, value)]).expect_err(var);
            assert!(
                err.to_string().contains(var.trim_start_matches("AGENT_")),
                "{var}: {err}"
            );
        }
    }
}
