//! `wrenn-cp`'s configuration: environment variables (every one is listed in
//! `.env.example`) loaded into one typed struct at start-up. Secrets are
//! never printed: `Debug` redacts them.
use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("cannot read {var} file {path}")]
    ReadFile {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    ClientIdentity(#[from] crate::tls::TlsError),
    #[error(transparent)]
    TlsListener(#[from] crate::listener::ListenerError),
}

pub use crate::secret::SecretString;

/// How far a host's CPUs, memory and disk may be promised beyond what it
/// has (`CP_CPU_OVERCOMMIT` etc.).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overcommit {
    pub cpu: f64,
    pub memory: f64,
    pub disk: f64,
}

impl Default for Overcommit {
    fn default() -> Self {
        Self {
            cpu: 4.0,
            memory: 1.0,
            disk: 1.0,
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at one request per
/// `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub period: Duration,
    pub burst: std::num::NonZeroU32,
}

/// Request limits and the login lockout (docs/security.md, "Tenancy, rate
/// limits and deletion"). The token buckets live in each control-plane
/// process; the lockout counters live in the database, shared by replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `CP_RATE_LIMIT`, default `on`; `off` turns off the request limits
    /// (per credential, per team, per client on signup and login), never
    /// the login lockout.
    pub enabled: bool,
    /// `CP_RATE_LIMIT_KEY_PER_SEC` (200) and `CP_RATE_LIMIT_KEY_BURST`
    /// (400): per API key, or per user for user tokens.
    pub per_credential: Rate,
    /// `CP_RATE_LIMIT_TEAM_PER_SEC` (1000) and `CP_RATE_LIMIT_TEAM_BURST`
    /// (2000): per team, all of its credentials together.
    pub per_team: Rate,
    /// `CP_AUTH_RATE_PER_MIN` (120) and `CP_AUTH_RATE_BURST` (100): signup
    /// and login requests per client address.
    pub auth_per_client: Rate,
    /// `CP_LOGIN_LOCKOUT_AFTER`, default 5: consecutive wrong passwords for
    /// one account from one client address before that pair is locked.
    pub lockout_after: u32,
    /// `CP_LOGIN_ACCOUNT_LOCKOUT_AFTER`, default 20: consecutive wrong
    /// passwords for one account from any address before the account is.
    pub account_lockout_after: u32,
    /// `CP_LOGIN_LOCKOUT_SECS`, default 30: the first lock; it doubles with
    /// each further wrong password, up to `CP_LOGIN_LOCKOUT_MAX_SECS` (900).
    pub lockout_base: Duration,
    pub lockout_max: Duration,
    /// `CP_TRUST_FORWARDED_FOR`, default off: take the client address from
    /// the first `X-Forwarded-For` entry (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone)]
pub struct CpConfig {
    /// `CP_LISTEN_ADDR`, default `127.0.0.1:8000`.
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`: `sqlite://PATH` (default `sqlite:///var/lib/wrenn/cp/wrenn.db`)
    /// or `postgres://...`.
    pub database_url: SecretString,
    /// `CP_JWT_SECRET`; else the contents of `CP_JWT_SECRET_FILE`, created
    /// with a random secret on first start (default
    /// `/var/lib/wrenn/cp/jwt-secret`).
    pub jwt_secret: SecretString,
    /// `CP_JWT_TTL_SECS`, default 3600.
    pub jwt_ttl: Duration,
    /// `CP_AGENT_URL`, unset by default: a development shortcut, an agent
    /// reached with a shared secret as host `host_local`, without
    /// registration or heartbeats (docs/hosts.md). Real hosts register.
    pub agent_url: Option<String>,
    /// `CP_AGENT_SECRET` or `CP_AGENT_SECRET_FILE`: that agent's `AGENT_SECRET`.
    pub agent_secret: Option<SecretString>,
    /// `CP_RECONCILE_INTERVAL_SECS`, default 10.
    pub reconcile_interval: Duration,
    /// `CP_SANDBOX_DEFAULT_TIMEOUT_SECS`, default 300.
    pub default_timeout_secs: u64,
    /// `CP_SANDBOX_START_TIMEOUT_SECS`, default 300: how long a record may
    /// stay `pending` or `starting` before the reconciler finishes it (the
    /// host runs it) or rolls it back (`error`, destroyed on the host).
    /// Longer than any create takes, so no create in flight is cut short.
    pub start_timeout: Duration,
    /// `CP_MAX_SANDBOXES_PER_TEAM`, default 100.
    pub max_sandboxes_per_team: u32,
    /// `CP_DEFAULT_PLAN`, unset by default: the plan of teams not put on
    /// one (docs/api.md "Pools and usage"); unset, such teams have no pool
    /// limit (only `max_sandboxes_per_team`).
    pub default_plan: Option<String>,
    /// `CP_ALLOW_PRIVATE_HOST_ADDRS`, default false: agents may register at
    /// loopback addresses, and teams' own hosts at private ones
    /// (`service::hosts::address`).
    pub allow_private_host_addrs: bool,
    /// `CP_WEBHOOK_ALLOW_PRIVATE`, default false: team webhooks may point
    /// at loopback, link-local and private addresses (`service::notify`).
    pub webhook_allow_private: bool,
    /// `CP_HOST_HEARTBEAT_SECS`, default 30: the interval agents are told.
    pub heartbeat_interval_secs: u64,
    /// `CP_HOST_DEAD_SECS`, default 90: silence after which a host is
    /// `unreachable` and its sandboxes `lost`.
    pub host_dead_after: Duration,
    /// `CP_HOST_MONITOR_INTERVAL_SECS`, default 10.
    pub host_monitor_interval: Duration,
    /// `CP_HOST_TOKEN_TTL_SECS`, default 3600: registration token lifetime.
    pub registration_token_ttl: Duration,
    /// `CP_CPU_OVERCOMMIT` (4.0), `CP_MEMORY_OVERCOMMIT` (1.0),
    /// `CP_DISK_OVERCOMMIT` (1.0).
    pub overcommit: Overcommit,
    /// `CP_CLIENT_CERT` and `CP_CLIENT_KEY` (PEM, both or neither): the
    /// certificate presented to agents that require one (mTLS).
    pub client_identity: Option<crate::tls::ClientIdentity>,
    /// Request limits and login lockout.
    pub rate_limits: RateLimitConfig,
    /// `CP_STOPPED_RETENTION_SECS`, default 604800 (7 days): how long the
    /// records of `stopped` and `error` sandboxes are kept; 0 keeps them.
    pub stopped_retention: Duration,
    /// `CP_RETENTION_INTERVAL_SECS`, default 3600: how often they are purged.
    pub retention_interval: Duration,
    /// `WRENN_DOMAIN`, unset by default: sandboxes are reached at
    /// `<port>-<sandboxID>.<domain>` and the E2B-compatible API at
    /// `api.<domain>` (see `crate::domain`).
    pub domain: Option<crate::domain::Domain>,
    /// `CP_TLS_CERT_FILE` and `CP_TLS_KEY_FILE` (PEM, both or neither): an
    /// HTTPS listener on `CP_TLS_LISTEN_ADDR` (default `127.0.0.1:8443`)
    /// beside the plain one (`crate::listener`).
    pub tls_listener: Option<crate::listener::TlsListenerConfig>,
    /// Browser sessions (`service::sessions`).
    pub sessions: SessionConfig,
    /// `CP_DASHBOARD_DIR`, default `/usr/local/share/wrenn/dashboard`: the
    /// built dashboard (`dashboard/scripts/build.sh`) served at `/`.
    pub dashboard_dir: PathBuf,
}

/// How long a browser session lives (docs/security.md, "Browser sessions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// `CP_SESSION_IDLE_SECS`, default 43200 (12 h): a session unused this
    /// long has expired.
    pub idle: Duration,
    /// `CP_SESSION_MAX_SECS`, default 604800 (7 d): the longest a session
    /// lives, however often it is used.
    pub max: Duration,
}

const DEFAULT_DATA: &str = "/var/lib/wrenn/cp";

impl CpConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let database_url =
            value("DATABASE_URL").unwrap_or_else(|| format!("sqlite://{DEFAULT_DATA}/wrenn.db"));
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(invalid(
                "DATABASE_URL",
                "must start with sqlite: or postgres://",
            ));
        }
        let jwt_secret = match value("CP_JWT_SECRET") {
            Some(secret) => secret,
            None => {
                let path = value("CP_JWT_SECRET_FILE").map_or_else(
                    || PathBuf::from(DEFAULT_DATA).join("jwt-secret"),
                    PathBuf::from,
                );
                read_or_create_secret(&path)?
            }
        };
        if jwt_secret.trim().len() < 32 {
            return Err(invalid("CP_JWT_SECRET", "must be at least 32 characters"));
        }
        let agent_secret =
            match (value("CP_AGENT_SECRET"), value("CP_AGENT_SECRET_FILE")) {
                (Some(secret), _) => Some(secret),
                (None, Some(path)) => Some(std::fs::read_to_string(&path).map_err(|source| {
                    ConfigError::ReadFile {
                        var: "CP_AGENT_SECRET_FILE",
                        path: path.into(),
                        source,
                    }
                })?),
                (None, None) => None,
            };
        let tls_addr = parsed(
            &value,
            crate::listener::ADDR_VAR,
            crate::listener::DEFAULT_ADDR,
        )?;
        Ok(Self {
            listen_addr: parsed(&value, "CP_LISTEN_ADDR", "127.0.0.1:8000")?,
            database_url: SecretString::new(database_url),
            jwt_secret: SecretString::new(jwt_secret.trim()),
            jwt_ttl: Duration::from_secs(parsed(&value, "CP_JWT_TTL_SECS", "3600")?),
            agent_url: value("CP_AGENT_URL").map(|url| url.trim().trim_end_matches('/').to_owned()),
            agent_secret: agent_secret.map(|s| SecretString::new(s.trim())),
            reconcile_interval: Duration::from_secs(parsed(
                &value,
                "CP_RECONCILE_INTERVAL_SECS",
                "10",
            )?),
            default_timeout_secs: parsed(&value, "CP_SANDBOX_DEFAULT_TIMEOUT_SECS", "300")?,
            start_timeout: Duration::from_secs(positive(
                &value,
                "CP_SANDBOX_START_TIMEOUT_SECS",
                "300",
            )?),
            max_sandboxes_per_team: parsed(&value, "CP_MAX_SANDBOXES_PER_TEAM", "100")?,
            default_plan: value("CP_DEFAULT_PLAN").map(|p| p.trim().to_owned()),
            allow_private_host_addrs: parsed(&value, "CP_ALLOW_PRIVATE_HOST_ADDRS", "false")?,
            webhook_allow_private: parsed(&value, "CP_WEBHOOK_ALLOW_PRIVATE", "false")?,
            heartbeat_interval_secs: positive(&value, "CP_HOST_HEARTBEAT_SECS", "30")?,
            host_dead_after: Duration::from_secs(positive(&value, "CP_HOST_DEAD_SECS", "90")?),
            host_monitor_interval: Duration::from_secs(positive(
                &value,
                "CP_HOST_MONITOR_INTERVAL_SECS",
                "10",
            )?),
            registration_token_ttl: Duration::from_secs(positive(
                &value,
                "CP_HOST_TOKEN_TTL_SECS",
                "3600",
            )?),
            overcommit: Overcommit {
                cpu: factor(&value, "CP_CPU_OVERCOMMIT", "4.0")?,
                memory: factor(&value, "CP_MEMORY_OVERCOMMIT", "1.0")?,
                disk: factor(&value, "CP_DISK_OVERCOMMIT", "1.0")?,
            },
            client_identity: crate::tls::ClientIdentity::from_lookup(value)?,
            rate_limits: rate_limits(&value)?,
            sessions: SessionConfig {
                idle: Duration::from_secs(positive(&value, "CP_SESSION_IDLE_SECS", "43200")?),
                max: Duration::from_secs(positive(&value, "CP_SESSION_MAX_SECS", "604800")?),
            },
            dashboard_dir: value("CP_DASHBOARD_DIR").map_or_else(
                || PathBuf::from("/usr/local/share/wrenn/dashboard"),
                |dir| PathBuf::from(dir.trim()),
            ),
            stopped_retention: Duration::from_secs(parsed(
                &value,
                "CP_STOPPED_RETENTION_SECS",
                "604800",
            )?),
            retention_interval: Duration::from_secs(positive(
                &value,
                "CP_RETENTION_INTERVAL_SECS",
                "3600",
            )?),
            domain: value("WRENN_DOMAIN")
                .map(|text| crate::domain::Domain::parse(&text))
                .transpose()
                .map_err(|e| invalid("WRENN_DOMAIN", e.to_string()))?,
            // The last use of `value`: it moves.
            tls_listener: crate::listener::TlsListenerConfig::from_lookup(value, tls_addr)?,
        })
    }
}

fn rate_limits(value: &impl Fn(&str) -> Option<String>) -> Result<RateLimitConfig, ConfigError> {
    let enabled = match value("CP_RATE_LIMIT").as_deref().map(str::trim) {
        None | Some("on" | "1" | "true") => true,
        Some("off" | "0" | "false") => false,
        Some(other) => return Err(invalid("CP_RATE_LIMIT", format!("'{other}': on or off"))),
    };
    let rate = |per: &'static str,
                per_default: &str,
                burst_var: &'static str,
                burst_default: &str,
                unit: Duration| {
        let n = positive(value, per, per_default)?;
        let burst = u32::try_from(positive(value, burst_var, burst_default)?)
            .ok()
            .and_then(std::num::NonZeroU32::new)
            .ok_or_else(|| invalid(burst_var, "too large"))?;
        let period = unit
            .checked_div(u32::try_from(n).map_err(|_| invalid(per, "too large"))?)
            .filter(|p| !p.is_zero())
            .ok_or_else(|| invalid(per, "too large"))?;
        Ok::<_, ConfigError>(Rate { period, burst })
    };
    let second = Duration::from_secs(1);
    let lockout_base = Duration::from_secs(positive(value, "CP_LOGIN_LOCKOUT_SECS", "30")?);
    let lockout_max = Duration::from_secs(positive(value, "CP_LOGIN_LOCKOUT_MAX_SECS", "900")?);
    if lockout_max < lockout_base {
        return Err(invalid(
            "CP_LOGIN_LOCKOUT_MAX_SECS",
            "must not be less than CP_LOGIN_LOCKOUT_SECS",
        ));
    }
    Ok(RateLimitConfig {
        enabled,
        per_credential: rate(
            "CP_RATE_LIMIT_KEY_PER_SEC",
            "200",
            "CP_RATE_LIMIT_KEY_BURST",
            "400",
            second,
        )?,
        per_team: rate(
            "CP_RATE_LIMIT_TEAM_PER_SEC",
            "1000",
            "CP_RATE_LIMIT_TEAM_BURST",
            "2000",
            second,
        )?,
        auth_per_client: rate(
            "CP_AUTH_RATE_PER_MIN",
            "120",
            "CP_AUTH_RATE_BURST",
            "100",
            Duration::from_secs(60),
        )?,
        lockout_after: count(value, "CP_LOGIN_LOCKOUT_AFTER", "5")?,
        account_lockout_after: count(value, "CP_LOGIN_ACCOUNT_LOCKOUT_AFTER", "20")?,
        lockout_base,
        lockout_max,
        trust_forwarded_for: matches!(
            value("CP_TRUST_FORWARDED_FOR").as_deref().map(str::trim),
            Some("1" | "true" | "on")
        ),
    })
}

fn count(
    value: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<u32, ConfigError> {
    u32::try_from(positive(value, var, default)?).map_err(|_| invalid(var, "too large"))
}

fn invalid(var: &'static str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        var,
        message: message.to_string(),
    }
}

fn parsed<T: FromStr>(
    value: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let raw = value(var).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|err| invalid(var, format!("'{raw}': {err}")))
}

fn positive(
    value: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<u64, ConfigError> {
    match parsed(value, var, default)? {
        0 => Err(invalid(var, "must be at least 1")),
        n => Ok(n),
    }
}

/// An overcommit factor: finite, 0.1 to 100.
fn factor(
    value: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: &str,
) -> Result<f64, ConfigError> {
    let f: f64 = parsed(value, var, default)?;
    if f.is_finite() && (0.1..=100.0).contains(&f) {
        Ok(f)
    } else {
        Err(invalid(var, format!("{f} is not between 0.1 and 100")))
    }
}

/// Reads the JWT secret file, or creates it (mode 0600) with 256 random bits
/// so that a fresh install needs no set-up and restarts keep tokens valid.
fn read_or_create_secret(path: &std::path::Path) -> Result<String, ConfigError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let read_error = |source| ConfigError::ReadFile {
        var: "CP_JWT_SECRET_FILE",
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(secret) => return Ok(secret),
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(read_error(err)),
        Err(_) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(read_error)?;
    }
    let secret = crate::secret::random_token(48);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(read_error)?;
    file.write_all(secret.as_bytes()).map_err(read_error)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<CpConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CpConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn from_lookup_when_only_secret_then_defaults() {
        let config = load(&[("CP_JWT_SECRET", SECRET)]).expect("config");
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8000");
        assert!(config.database_url.expose().starts_with("sqlite://"));
        assert_eq!(config.agent_url, None, "no development agent unless asked");
    }

    #[test]
    fn from_lookup_when_short_jwt_secret_then_refuses() {
        let err = load(&[("CP_JWT_SECRET", "short")]).expect_err("refused");
        assert!(err.to_string().contains("CP_JWT_SECRET"));
    }

    #[test]
    fn from_lookup_when_bad_number_then_error_names_variable() {
        let err =
            load(&[("CP_JWT_SECRET", SECRET), ("CP_JWT_TTL_SECS", "soon")]).expect_err("refused");
        assert!(err.to_string().contains("CP_JWT_TTL_SECS"));
    }

    #[test]
    fn from_lookup_when_secret_file_missing_then_created_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt");
        let path_str = path.to_string_lossy().into_owned();
        let first = load(&[("CP_JWT_SECRET_FILE", &path_str)]).expect("config");
        let second = load(&[("CP_JWT_SECRET_FILE", &path_str)]).expect("config");
        assert_eq!(first.jwt_secret, second.jwt_secret);
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn from_lookup_when_only_client_cert_then_refuses_naming_both() {
        let err = load(&[("CP_JWT_SECRET", SECRET), ("CP_CLIENT_CERT", "/etc/cp.crt")])
            .expect_err("refused");
        let message = err.to_string();
        assert!(message.contains("CP_CLIENT_CERT"), "{message}");
        assert!(message.contains("CP_CLIENT_KEY"), "{message}");
    }

    #[test]
    fn from_lookup_when_client_cert_unreadable_then_error_names_variable() {
        let err = load(&[
            ("CP_JWT_SECRET", SECRET),
            ("CP_CLIENT_CERT", "/nonexistent/cp.crt"),
            ("CP_CLIENT_KEY", "/nonexistent/cp.key"),
        ])
        .expect_err("refused");
        assert!(err.to_string().contains("CP_CLIENT_CERT"), "{err}");
    }

    #[test]
    fn from_lookup_when_rate_limits_unset_then_defaults_and_off_parses() {
        let config = load(&[("CP_JWT_SECRET", SECRET)]).expect("config");
        let limits = &config.rate_limits;
        assert!(limits.enabled);
        assert_eq!(limits.per_credential.period, Duration::from_millis(5));
        assert_eq!(limits.per_credential.burst.get(), 400);
        assert_eq!(limits.auth_per_client.period, Duration::from_millis(500));
        assert_eq!(config.stopped_retention, Duration::from_secs(7 * 24 * 3600));
        let off = load(&[("CP_JWT_SECRET", SECRET), ("CP_RATE_LIMIT", "off")]).expect("config");
        assert!(!off.rate_limits.enabled);
        let bad = load(&[("CP_JWT_SECRET", SECRET), ("CP_RATE_LIMIT", "maybe")]);
        assert!(bad
            .expect_err("refused")
            .to_string()
            .contains("CP_RATE_LIMIT"));
    }

    #[test]
    fn from_lookup_when_lockout_max_below_base_then_refused() {
        let err = load(&[
            ("CP_JWT_SECRET", SECRET),
            ("CP_LOGIN_LOCKOUT_SECS", "60"),
            ("CP_LOGIN_LOCKOUT_MAX_SECS", "10"),
        ])
        .expect_err("refused");
        assert!(
            err.to_string().contains("CP_LOGIN_LOCKOUT_MAX_SECS"),
            "{err}"
        );
    }

    #[test]
    fn debug_when_printed_then_secrets_redacted() {
        let config = load(&[("CP_JWT_SECRET", SECRET)]).expect("config");
        assert!(!format!("{config:?}").contains(SECRET));
    }
}
