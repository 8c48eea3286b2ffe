//! `wrenn-agent serve` configuration: every `AGENT_*` variable (and
//! `WRENN_DATA_DIR`) read once into [`ServeConfig`], validated, with defaults.
//! The agent's identity is the token file of a registered host or, without
//! one, the shared `AGENT_SECRET`; never both. `Debug` redacts the secrets.
use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use wrenn_agent::{
    guest_ca::GuestCa,
    network::{GuestDns, NetworkConfig},
    paths::DEFAULT_DATA_DIR,
    registration::{CredentialsError, HostCredentials, TOKEN_FILE_NAME},
    rpc::{host, Secret},
    sandbox::{
        builtin_shape,
        config::MIN_MEMORY_MIB,
        warm::{parse_specs, WarmPoolSpec, DEFAULT_RESERVE_MIB},
        Limits, TemplateName, BUILTIN_TEMPLATES,
    },
    tls::TlsFiles,
    vmm::{confine::DEFAULT_VM_USER, AccelChoice, ConfinementChoice},
};

pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:50051";
const DEFAULT_READY_TIMEOUT_SECS: u64 = 120;
const DEFAULT_MAX_DISK_MIB: u64 = 64 * 1024;
/// Where the key that seals secrets in sandbox records lives.
pub const DEFAULT_STATE_KEY_FILE: &str = "/etc/wrenn/agent-state.key";

/// Which VMM to run (`AGENT_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// QEMU, the backend whose whole sandbox path is tested end to end;
    /// Firecracker only when asked for.
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// Who the agent is to the control plane, and so which secret incoming
/// calls must carry.
#[derive(Debug, Clone)]
pub enum Identity {
    /// `AGENT_SECRET` / `AGENT_SECRET_FILE` (`var` says which): the
    /// single-host set-up.
    Shared { secret: Secret, var: &'static str },
    /// The token file of a registered host (`AGENT_TOKEN_FILE`).
    Registered(HostCredentials),
    /// Neither: only `--register` can start this agent.
    Unregistered,
}

#[derive(Debug)]
pub struct ServeConfig {
    pub listen_addr: SocketAddr,
    /// True when `AGENT_LISTEN_ADDR` was set (not the default).
    pub listen_addr_set: bool,
    pub identity: Identity,
    /// `AGENT_TOKEN_FILE`, default `<data dir>/host-token`.
    pub token_file: PathBuf,
    /// `AGENT_HEARTBEAT_SECS`: overrides the control plane's interval.
    pub heartbeat_interval: Option<Duration>,
    pub data_dir: PathBuf,
    pub accel: AccelChoice,
    pub backend: BackendChoice,
    pub network: NetworkConfig,
    pub limits: Limits,
    pub ready_timeout: Duration,
    /// `AGENT_WARM_TEMPLATES`: snapshots to build besides the built-in
    /// templates' (see [`ServeConfig::warm_plan`]).
    pub warm_templates: Vec<WarmSpec>,
    /// `AGENT_WARM_POOL`: sandboxes kept restored and idle per shape
    /// (`template:vcpus:memory_mib:count`, comma separated); unset, `0` or
    /// empty: no pools.
    pub warm_pool: Vec<WarmPoolSpec>,
    /// `AGENT_WARM_POOL_RESERVE_MIB`: host memory pools never use (they
    /// shrink when `MemAvailable` falls below it); default 1024.
    pub warm_pool_reserve_mib: u64,
    /// `AGENT_MAX_CONCURRENT_STARTS`: VMs starting at once (spawn or
    /// restore until envd is initialised); default four per CPU. The rest
    /// queue in arrival order.
    pub max_concurrent_starts: Option<usize>,
    /// `AGENT_TLS_CERT`, `AGENT_TLS_KEY`, `AGENT_TLS_CLIENT_CA`: HTTPS (and
    /// mTLS) when set; plain HTTP otherwise.
    pub tls: Option<TlsFiles>,
    /// `AGENT_VM_CONFINEMENT` (`on`, default, or `off`): VMMs as
    /// `vm_user`, under seccomp, each in its own cgroup.
    pub vm_confinement: ConfinementChoice,
    /// `AGENT_VM_USER`, default `wrenn-vm`.
    pub vm_user: String,
    /// `AGENT_STATE_KEY_FILE`, default `/etc/wrenn/agent-state.key`: the key
    /// sealing envd tokens in sandbox records; made (0600) on first start.
    pub state_key_file: PathBuf,
    /// `AGENT_GUEST_CA_FILE`: a PEM bundle of extra CA certificates every
    /// guest trusts (checked here, at start-up); unset: none.
    pub guest_ca: Option<GuestCa>,
}

impl ServeConfig {
    /// Every template snapshot to build after start-up: the built-in
    /// templates' at their default shape (fast creates need no setting;
    /// one whose image this host lacks is skipped when built), then
    /// `AGENT_WARM_TEMPLATES`, each shape once.
    pub fn warm_plan(&self) -> Vec<WarmSpec> {
        let builtins = BUILTIN_TEMPLATES.iter().filter_map(|name| {
            let (vcpus, memory_mib) = builtin_shape(name);
            Some(WarmSpec {
                template: name.parse().ok()?,
                vcpus,
                memory_mib,
            })
        });
        let mut seen = std::collections::HashSet::new();
        let pools = self.warm_pool.iter().map(|p| WarmSpec {
            template: p.shape.template.clone(),
            vcpus: p.shape.vcpus,
            memory_mib: p.shape.memory_mib,
        });
        builtins
            .chain(self.warm_templates.iter().cloned())
            .chain(pools)
            .filter(|spec| seen.insert(spec.clone()))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("no shared secret and no token file: set AGENT_SECRET, or AGENT_SECRET_FILE to a file holding it (at least 16 characters; the control plane sends it as `Authorization: Bearer <secret>`), or register with a control plane (wrenn-agent serve --register <token> --address <ip:port> --cp-url <url>)")]
    MissingSecret,
    #[error("set only one of AGENT_SECRET and AGENT_SECRET_FILE")]
    TwoSecrets,
    #[error("both the token file {path} of a registered host and {var} are present: a registered agent takes its secret from the token file, so unset {var} (or delete {path} to run as an unregistered single host)")]
    TokenFileAndSecret { path: PathBuf, var: &'static str },
    #[error("AGENT_TOKEN_FILE")]
    TokenFile(#[source] CredentialsError),
    #[error("AGENT_SECRET_FILE: cannot read {path}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `AGENT_GUEST_DNS` (a comma list), else the host's resolvers; the old
/// name `AGENT_DNS` is still read when the new one is not set.
fn guest_dns(get: &impl Fn(&str) -> Option<String>) -> Result<GuestDns, ConfigError> {
    match (get("AGENT_GUEST_DNS"), get("AGENT_DNS")) {
        (Some(raw), _) => GuestDns::resolve(Some(&raw)).map_err(|e| invalid("AGENT_GUEST_DNS", e)),
        (None, Some(raw)) => GuestDns::resolve(Some(&raw)).map_err(|e| invalid("AGENT_DNS", e)),
        (None, None) => GuestDns::resolve(None).map_err(|e| invalid("AGENT_GUEST_DNS", e)),
    }
}

/// An error with its causes, for a one-line configuration message.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
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
        let shared = match (get("AGENT_SECRET"), get("AGENT_SECRET_FILE")) {
            (None, None) => None,
            (Some(_), Some(_)) => return Err(ConfigError::TwoSecrets),
            (Some(raw), None) => Some((
                "AGENT_SECRET",
                Secret::new(&raw).map_err(|e| invalid("AGENT_SECRET", e))?,
            )),
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let raw = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::SecretFile { path, source })?;
                Some((
                    "AGENT_SECRET_FILE",
                    Secret::new(&raw).map_err(|e| invalid("AGENT_SECRET_FILE", e))?,
                ))
            }
        };
        let data_dir = get("WRENN_DATA_DIR").map_or_else(|| DEFAULT_DATA_DIR.into(), PathBuf::from);
        let token_file =
            get("AGENT_TOKEN_FILE").map_or_else(|| data_dir.join(TOKEN_FILE_NAME), PathBuf::from);
        let identity = match shared {
            _ if !token_file.exists() => shared.map_or(Identity::Unregistered, |(var, secret)| {
                Identity::Shared { secret, var }
            }),
            Some((var, _)) => {
                return Err(ConfigError::TokenFileAndSecret {
                    path: token_file,
                    var,
                })
            }
            None => Identity::Registered(
                HostCredentials::load(&token_file).map_err(ConfigError::TokenFile)?,
            ),
        };
        let heartbeat_interval = match get("AGENT_HEARTBEAT_SECS") {
            None => None,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(secs @ 1..=3600) => Some(Duration::from_secs(secs)),
                _ => {
                    return Err(invalid(
                        "AGENT_HEARTBEAT_SECS",
                        format!("'{raw}': expected whole seconds from 1 to 3600"),
                    ))
                }
            },
        };
        let defaults = NetworkConfig::default();
        let network = NetworkConfig {
            host_range: parsed(&get, "AGENT_HOST_RANGE", defaults.host_range)?,
            max_slots: parsed(&get, "AGENT_MAX_SLOTS", defaults.max_slots)?,
            dns: guest_dns(&get)?,
            guest_link: defaults.guest_link,
            netns_prefix: parsed(&get, "AGENT_NETNS_PREFIX", defaults.netns_prefix)?,
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
        let warm_pool = get("AGENT_WARM_POOL")
            .map(|raw| parse_specs(&raw))
            .transpose()
            .map_err(|e| invalid("AGENT_WARM_POOL", e))?
            .unwrap_or_default();
        let warm_pool_reserve_mib =
            parsed(&get, "AGENT_WARM_POOL_RESERVE_MIB", DEFAULT_RESERVE_MIB)?;
        Ok(Self {
            listen_addr_set: get("AGENT_LISTEN_ADDR").is_some(),
            identity,
            token_file,
            heartbeat_interval,
            listen_addr: parsed(
                &get,
                "AGENT_LISTEN_ADDR",
                DEFAULT_LISTEN_ADDR
                    .parse()
                    .map_err(|e| invalid("AGENT_LISTEN_ADDR", e))?,
            )?,
            data_dir,
            accel: parsed(&get, "AGENT_ACCEL", AccelChoice::Auto)?,
            backend: parsed(&get, "AGENT_BACKEND", BackendChoice::Auto)?,
            network,
            limits,
            ready_timeout: Duration::from_secs(ready_secs),
            warm_templates,
            warm_pool,
            warm_pool_reserve_mib,
            max_concurrent_starts: match get("AGENT_MAX_CONCURRENT_STARTS") {
                None => None,
                Some(raw) => match raw.trim().parse::<usize>() {
                    Ok(n @ 1..) => Some(n),
                    _ => {
                        return Err(invalid(
                            "AGENT_MAX_CONCURRENT_STARTS",
                            format!("'{raw}': expected a whole number of at least 1"),
                        ))
                    }
                },
            },
            tls: TlsFiles::from_lookup(&get).map_err(|e| invalid("AGENT_TLS_*", e))?,
            vm_confinement: parsed(&get, "AGENT_VM_CONFINEMENT", ConfinementChoice::On)?,
            vm_user: get("AGENT_VM_USER").unwrap_or_else(|| DEFAULT_VM_USER.to_owned()),
            state_key_file: get("AGENT_STATE_KEY_FILE")
                .map_or_else(|| DEFAULT_STATE_KEY_FILE.into(), PathBuf::from),
            guest_ca: get("AGENT_GUEST_CA_FILE")
                .map(|path| GuestCa::from_file(path.trim()))
                .transpose()
                .map_err(|e| invalid("AGENT_GUEST_CA_FILE", error_chain(&e)))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef-secret";

    /// Loads `vars`; the token file is a path that does not exist unless
    /// `vars` names one.
    fn load(vars: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.entry("AGENT_TOKEN_FILE".into())
            .or_insert_with(|| "/nonexistent-wrenn/host-token".into());
        ServeConfig::from_lookup(|k| map.get(k).cloned())
    }

    fn shared_secret(config: &ServeConfig) -> &str {
        match &config.identity {
            Identity::Shared { secret, .. } => secret.expose(),
            other => panic!("expected a shared secret, got {other:?}"),
        }
    }

    fn token_file(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("host-token");
        HostCredentials {
            cp_url: "http://10.0.0.1:8000".into(),
            host_id: "host_abcdefghij0123456789".into(),
            host_token: "h.jwt.t".into(),
            agent_secret: "from-the-control-plane-0123456789".into(),
        }
        .save(&path)
        .expect("save");
        path
    }

    #[test]
    fn from_lookup_when_only_secret_then_defaults() {
        let config = load(&[("AGENT_SECRET", SECRET)]).expect("valid");
        assert_eq!(config.listen_addr.to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(config.backend, BackendChoice::Auto);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(config.warm_templates.is_empty());
        assert_eq!(config.vm_confinement, ConfinementChoice::On);
        assert_eq!(config.vm_user, "wrenn-vm");
        assert_eq!(
            config.state_key_file,
            PathBuf::from("/etc/wrenn/agent-state.key")
        );
    }

    #[test]
    fn from_lookup_when_no_secret_and_no_token_file_then_unregistered() {
        let config = load(&[]).expect("valid");
        assert!(matches!(config.identity, Identity::Unregistered));
    }

    #[test]
    fn from_lookup_when_token_file_then_registered_with_its_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = token_file(&dir);
        let config = load(&[("AGENT_TOKEN_FILE", path.to_str().expect("utf-8"))]).expect("valid");
        let Identity::Registered(creds) = &config.identity else {
            panic!("expected registered, got {:?}", config.identity);
        };
        assert_eq!(
            creds.secret().expect("secret").expose(),
            "from-the-control-plane-0123456789"
        );
        assert!(!format!("{config:?}").contains("from-the-control-plane"));
    }

    #[test]
    fn from_lookup_when_token_file_and_secret_then_refuses_naming_what_to_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = token_file(&dir);
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, SECRET).expect("write");
        for (var, value) in [
            ("AGENT_SECRET", SECRET),
            ("AGENT_SECRET_FILE", secret_file.to_str().expect("utf-8")),
        ] {
            let err = load(&[
                ("AGENT_TOKEN_FILE", path.to_str().expect("utf-8")),
                (var, value),
            ])
            .expect_err(var);
            assert!(matches!(err, ConfigError::TokenFileAndSecret { var: v, .. } if v == var));
            let message = err.to_string();
            assert!(message.contains(&format!("unset {var}")), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
    }

    #[test]
    fn from_lookup_when_token_file_default_then_in_data_dir() {
        let map: HashMap<&str, &str> = HashMap::from([
            ("WRENN_DATA_DIR", "/nonexistent-wrenn"),
            ("AGENT_SECRET", SECRET),
        ]);
        let config =
            ServeConfig::from_lookup(|k| map.get(k).map(|v| (*v).to_owned())).expect("valid");
        assert_eq!(
            config.token_file,
            PathBuf::from("/nonexistent-wrenn/host-token")
        );
    }

    #[test]
    fn from_lookup_when_heartbeat_secs_then_override() {
        let config =
            load(&[("AGENT_SECRET", SECRET), ("AGENT_HEARTBEAT_SECS", "2")]).expect("valid");
        assert_eq!(config.heartbeat_interval, Some(Duration::from_secs(2)));
        assert_eq!(
            load(&[("AGENT_SECRET", SECRET)])
                .expect("valid")
                .heartbeat_interval,
            None
        );
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
        assert_eq!(shared_secret(&config), SECRET);
    }

    #[test]
    fn debug_when_printed_then_secret_redacted() {
        let config = load(&[("AGENT_SECRET", SECRET)]).expect("valid");
        assert!(!format!("{config:?}").contains(SECRET));
    }

    #[test]
    fn from_lookup_when_warm_pool_unset_then_off() {
        let config = load(&[]).expect("config");
        assert!(config.warm_pool.is_empty());
        assert_eq!(config.warm_pool_reserve_mib, DEFAULT_RESERVE_MIB);
    }

    #[test]
    fn from_lookup_when_warm_pool_set_then_parsed_and_snapshot_planned() {
        let config = load(&[("AGENT_WARM_POOL", "base:2:1024:3")]).expect("config");
        assert_eq!(config.warm_pool.len(), 1);
        assert_eq!(config.warm_pool[0].count, 3);
        assert!(config
            .warm_plan()
            .iter()
            .any(|s| s.vcpus == 2 && s.memory_mib == 1024));
        assert!(load(&[("AGENT_WARM_POOL", "base:1")]).is_err());
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
    fn from_lookup_when_max_concurrent_starts_then_parsed() {
        let unset = load(&[("AGENT_SECRET", SECRET)]).expect("valid");
        let set = load(&[
            ("AGENT_SECRET", SECRET),
            ("AGENT_MAX_CONCURRENT_STARTS", "4"),
        ])
        .expect("valid");

        assert_eq!(unset.max_concurrent_starts, None);
        assert_eq!(set.max_concurrent_starts, Some(4));
    }

    #[test]
    fn warm_plan_when_nothing_set_then_builtin_templates_at_default_shape() {
        let config = load(&[("AGENT_SECRET", SECRET)]).expect("valid");

        let plan = config.warm_plan();

        assert_eq!(
            plan,
            vec![
                WarmSpec {
                    template: "base".parse().expect("name"),
                    vcpus: 1,
                    memory_mib: 512,
                },
                WarmSpec {
                    template: "code-interpreter-v1".parse().expect("name"),
                    vcpus: 2,
                    memory_mib: 1024,
                }
            ]
        );
    }

    #[test]
    fn warm_plan_when_warm_templates_set_then_added_after_builtins_once_each() {
        let config = load(&[
            ("AGENT_SECRET", SECRET),
            (
                "AGENT_WARM_TEMPLATES",
                "py:2:1024,base:1:512,py:2:1024,base:2:512",
            ),
        ])
        .expect("valid");

        let plan: Vec<String> = config
            .warm_plan()
            .iter()
            .map(|s| format!("{}:{}:{}", s.template, s.vcpus, s.memory_mib))
            .collect();

        assert_eq!(
            plan,
            [
                "base:1:512",
                "code-interpreter-v1:2:1024",
                "py:2:1024",
                "base:2:512"
            ]
        );
    }

    #[test]
    fn from_lookup_when_bad_values_then_error_names_variable() {
        for (var, value) in [
            ("AGENT_BACKEND", "vmware"),
            ("AGENT_LISTEN_ADDR", "nowhere"),
            ("AGENT_WARM_TEMPLATES", "base:1"),
            ("AGENT_MAX_SLOTS", "0"),
            ("AGENT_ACCEL", "hvf"),
            ("AGENT_NETNS_PREFIX", "Bad_"),
            ("AGENT_HEARTBEAT_SECS", "0"),
            ("AGENT_TLS_CERT", "/etc/wrenn/agent.crt"),
            ("AGENT_VM_CONFINEMENT", "maybe"),
            ("AGENT_MAX_CONCURRENT_STARTS", "0"),
            ("AGENT_GUEST_DNS", "127.0.0.53"),
            ("AGENT_GUEST_CA_FILE", "/nonexistent/wrenn-ca.pem"),
        ] {
            let err = load(&[("AGENT_SECRET", SECRET), (var, value)]).expect_err(var);
            assert!(
                err.to_string().contains(var.trim_start_matches("AGENT_")),
                "{var}: {err}"
            );
        }
    }

    #[test]
    fn from_lookup_when_guest_dns_set_then_list_else_host_resolver() {
        let set = load(&[
            ("AGENT_SECRET", SECRET),
            ("AGENT_GUEST_DNS", "10.1.2.3,9.9.9.9"),
        ])
        .expect("config");
        assert_eq!(set.network.dns.to_string(), "10.1.2.3,9.9.9.9");
        let old_name = load(&[("AGENT_SECRET", SECRET), ("AGENT_DNS", "8.8.8.8")]).expect("config");
        assert_eq!(old_name.network.dns.to_string(), "8.8.8.8");
        let host = load(&[("AGENT_SECRET", SECRET)]).expect("config");
        let expected = GuestDns::resolve(None).expect("host resolvers");
        assert_eq!(host.network.dns, expected);
        assert!(host.guest_ca.is_none());
    }
}
