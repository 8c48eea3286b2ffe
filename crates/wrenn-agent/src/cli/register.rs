//! `--register` and the registered mode of `wrenn-agent serve`: the checks
//! made before anything starts, the registration call itself, and what a
//! registered agent needs to serve (its secret, its heartbeat settings).
use std::time::Duration;

use wrenn_agent::{
    registration::{
        self, heartbeat, CpUrl, HeartbeatConfig, HostAddress, HostCredentials, HostSpecs,
        RegisterRequest, RegistrationToken,
    },
    rpc::{HostFacts, Secret},
};

use super::config::{ConfigError, Identity, ServeConfig};

/// Exit status for bad input and refusals (clap's usage errors use it too).
pub const EXIT_REFUSED: i32 = 2;
/// Exit status once the control plane revoked this host.
pub const EXIT_HOST_REVOKED: i32 = 3;

/// Registration options of `serve` (also accepted without `serve`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegisterArgs {
    /// Register this host with the control plane using this one-time token
    /// (`wrh_...` from `POST /v1/hosts`), save the credentials in
    /// AGENT_TOKEN_FILE, then serve. Later starts need no token.
    #[arg(long, value_name = "TOKEN", requires = "address")]
    pub register: Option<RegistrationToken>,
    /// ip:port where the control plane reaches this agent (with --register).
    #[arg(long, value_name = "IP:PORT", requires = "register")]
    pub address: Option<HostAddress>,
    /// The control plane's URL, e.g. http://10.0.0.1:8000 (with --register).
    #[arg(long, env = "AGENT_CP_URL", value_name = "URL")]
    pub cp_url: Option<CpUrl>,
}

/// Why the agent will not start; all exit with [`EXIT_REFUSED`].
#[derive(Debug, thiserror::Error)]
pub enum StartRefused {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--register needs the control plane's URL: --cp-url <url> or AGENT_CP_URL")]
    NoCpUrl,
    #[error("this host is already registered ({host_id} at {cp_url}, token file {path}); to register again, delete {path} first")]
    AlreadyRegistered {
        path: String,
        host_id: String,
        cp_url: String,
    },
    #[error("{var} is set, but a registered agent takes its secret from the control plane; unset {var} before --register")]
    SecretWithRegister { var: &'static str },
    #[error("the agent listens on {listen} (AGENT_LISTEN_ADDR{default}) but the control plane would dial {address}; set AGENT_LISTEN_ADDR={address} (or 0.0.0.0:{port}) so it can")]
    ListenUnreachable {
        listen: std::net::SocketAddr,
        default: &'static str,
        address: HostAddress,
        port: u16,
    },
    #[error("the token file cannot be written; fix that before registering (AGENT_TOKEN_FILE)")]
    TokenFileUnwritable(#[source] registration::CredentialsError),
    #[error("cannot register with {cp_url}")]
    Registration {
        cp_url: String,
        #[source]
        source: registration::RegisterError,
    },
}

/// What serving needs once the identity is settled.
#[derive(Debug)]
pub struct Established {
    pub secret: Secret,
    /// `Some` for a registered host.
    pub heartbeat: Option<(registration::CpClient, HeartbeatConfig)>,
}

/// Checks made before the agent binds or boots anything.
pub fn preflight(config: &ServeConfig, args: &RegisterArgs) -> Result<(), StartRefused> {
    let Some(address) = args.address else {
        return match config.identity {
            Identity::Unregistered => Err(ConfigError::MissingSecret.into()),
            _ => Ok(()),
        };
    };
    if args.cp_url.is_none() {
        return Err(StartRefused::NoCpUrl);
    }
    match &config.identity {
        Identity::Registered(creds) => {
            return Err(StartRefused::AlreadyRegistered {
                path: config.token_file.display().to_string(),
                host_id: creds.host_id.clone(),
                cp_url: creds.cp_url.clone(),
            })
        }
        Identity::Shared { var, .. } => return Err(StartRefused::SecretWithRegister { var }),
        Identity::Unregistered => {}
    }
    let listen = config.listen_addr;
    let address_ip = address.socket_addr().ip();
    if listen.ip().is_loopback() && !address_ip.is_loopback() {
        return Err(StartRefused::ListenUnreachable {
            listen,
            default: if config.listen_addr_set {
                ""
            } else {
                "'s default"
            },
            address,
            port: address.socket_addr().port(),
        });
    }
    HostCredentials::check_writable(&config.token_file).map_err(StartRefused::TokenFileUnwritable)
}

/// Registers (with `--register`) or loads the registered or shared identity.
pub async fn establish(
    config: &ServeConfig,
    args: &RegisterArgs,
    facts: &HostFacts,
) -> Result<Established, StartRefused> {
    let (creds, interval) = match (&config.identity, &args.register, args.address) {
        (Identity::Shared { secret, .. }, _, _) => {
            return Ok(Established {
                secret: secret.clone(),
                heartbeat: None,
            })
        }
        (Identity::Registered(creds), _, _) => {
            if let Some(url) = args.cp_url.as_ref().filter(|u| u.as_str() != creds.cp_url) {
                tracing::warn!(token_file = %config.token_file.display(), file_cp_url = %creds.cp_url, env_cp_url = %url, "AGENT_CP_URL differs from the token file's control plane; the token file wins");
            }
            (creds.clone(), heartbeat::DEFAULT_INTERVAL)
        }
        (Identity::Unregistered, Some(token), Some(address)) => {
            let cp_url = args.cp_url.clone().ok_or(StartRefused::NoCpUrl)?;
            let request = RegisterRequest {
                token: token.clone(),
                address,
                cp_url: cp_url.clone(),
            };
            let mut specs = HostSpecs::detect(facts, &config.data_dir);
            if let Some(files) = &config.tls {
                // What the control plane checks against a pinned fingerprint.
                let pin = wrenn_agent::tls::cert_sha256_hex(&files.cert).map_err(|e| {
                    ConfigError::Invalid {
                        var: wrenn_agent::tls::CERT_VAR,
                        message: e.to_string(),
                    }
                })?;
                specs.tls_cert_sha256 = Some(pin);
            }
            tracing::info!(cp = %cp_url, %address, ?specs, "registering with the control plane");
            let done = registration::register(&request, &specs, &config.token_file)
                .await
                .map_err(|source| StartRefused::Registration {
                    cp_url: cp_url.to_string(),
                    source,
                })?;
            tracing::info!(host_id = %done.credentials.host_id, token_file = %config.token_file.display(), "registered; credentials saved");
            (done.credentials, done.heartbeat_interval)
        }
        (Identity::Unregistered, _, _) => return Err(ConfigError::MissingSecret.into()),
    };
    registered(config, creds, interval)
}

/// `doctor`'s line about the token file (`AGENT_TOKEN_FILE` or the data
/// dir's `host-token`).
pub fn describe(data: &wrenn_agent::paths::DataDir) -> String {
    let path = std::env::var_os("AGENT_TOKEN_FILE")
        .filter(|p| !p.is_empty())
        .map_or_else(
            || data.root().join(registration::TOKEN_FILE_NAME),
            std::path::PathBuf::from,
        );
    if !path.exists() {
        return format!(
            "no (no token file at {}; serving with AGENT_SECRET)",
            path.display()
        );
    }
    match HostCredentials::load(&path) {
        Ok(creds) => format!(
            "{} with {} (token file {})",
            creds.host_id,
            creds.cp_url,
            path.display()
        ),
        Err(err) => format!("BROKEN: {err}"),
    }
}

fn registered(
    config: &ServeConfig,
    creds: HostCredentials,
    interval: Duration,
) -> Result<Established, StartRefused> {
    let secret = creds.secret().map_err(|e| ConfigError::Invalid {
        var: "AGENT_TOKEN_FILE",
        message: format!("agent_secret: {e}"),
    })?;
    let cp_url: CpUrl = creds.cp_url.parse().map_err(|e| ConfigError::Invalid {
        var: "AGENT_TOKEN_FILE",
        message: format!("cp_url: {e}"),
    })?;
    let heartbeat = HeartbeatConfig {
        host_id: creds.host_id,
        host_token: creds.host_token,
        interval,
        fixed_interval: config.heartbeat_interval,
        token_file: config.token_file.clone(),
    };
    Ok(Established {
        secret,
        heartbeat: Some((registration::CpClient::new(cp_url), heartbeat)),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TOKEN: &str = "wrh_0123456789abcdefghijABCDEFGHIJkl";

    /// The config of `vars`; the token file defaults to a path in a fresh
    /// temporary directory (kept alive by the second value).
    fn config(vars: &[(&str, &str)]) -> (ServeConfig, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.entry("AGENT_TOKEN_FILE".into())
            .or_insert_with(|| dir.path().join("host-token").display().to_string());
        let config = ServeConfig::from_lookup(|k| map.get(k).cloned()).expect("config");
        (config, dir)
    }

    fn args(address: &str) -> RegisterArgs {
        RegisterArgs {
            register: Some(TOKEN.parse().expect("token")),
            address: Some(address.parse().expect("address")),
            cp_url: Some("http://10.0.0.1:8000".parse().expect("url")),
        }
    }

    #[test]
    fn preflight_when_register_and_listen_matches_then_ok() {
        let (config, _dir) = config(&[("AGENT_LISTEN_ADDR", "10.0.0.5:50051")]);
        preflight(&config, &args("10.0.0.5:50051")).expect("ok");
    }

    #[test]
    fn preflight_when_listening_on_loopback_only_then_refused_with_fix() {
        let (config, _dir) = config(&[]);
        let err = preflight(&config, &args("10.0.0.5:50051")).expect_err("refused");
        assert!(
            err.to_string().contains("AGENT_LISTEN_ADDR=10.0.0.5:50051"),
            "{err}"
        );
    }

    #[test]
    fn preflight_when_no_cp_url_then_refused() {
        let (config, _dir) = config(&[("AGENT_LISTEN_ADDR", "0.0.0.0:50051")]);
        let args = RegisterArgs {
            cp_url: None,
            ..args("10.0.0.5:50051")
        };
        assert!(matches!(
            preflight(&config, &args),
            Err(StartRefused::NoCpUrl)
        ));
    }

    #[test]
    fn preflight_when_register_with_shared_secret_then_refused() {
        let (config, _dir) = config(&[
            ("AGENT_LISTEN_ADDR", "0.0.0.0:50051"),
            ("AGENT_SECRET", "0123456789abcdef-secret"),
        ]);
        assert!(matches!(
            preflight(&config, &args("10.0.0.5:50051")),
            Err(StartRefused::SecretWithRegister { .. })
        ));
    }

    #[test]
    fn preflight_when_register_and_token_file_exists_then_refused_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("host-token");
        HostCredentials {
            cp_url: "http://10.0.0.1:8000".into(),
            host_id: "host_abcdefghij0123456789".into(),
            host_token: "h.jwt.t".into(),
            agent_secret: "from-the-control-plane-0123456789".into(),
        }
        .save(&path)
        .expect("save");
        let (config, _dir) = config(&[
            ("AGENT_LISTEN_ADDR", "0.0.0.0:50051"),
            ("AGENT_TOKEN_FILE", path.to_str().expect("utf-8")),
        ]);
        let err = preflight(&config, &args("10.0.0.5:50051")).expect_err("refused");
        assert!(
            err.to_string()
                .contains(&format!("delete {} first", path.display())),
            "{err}"
        );
    }

    #[test]
    fn preflight_when_token_file_cannot_be_written_then_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("plain");
        std::fs::write(&blocker, "x").expect("write");
        let token_file = blocker.join("host-token");
        let (config, _dir) = config(&[
            ("AGENT_LISTEN_ADDR", "0.0.0.0:50051"),
            ("AGENT_TOKEN_FILE", token_file.to_str().expect("utf-8")),
        ]);
        assert!(matches!(
            preflight(&config, &args("10.0.0.5:50051")),
            Err(StartRefused::TokenFileUnwritable(_))
        ));
    }

    #[test]
    fn preflight_when_unregistered_without_register_then_missing_secret() {
        let (config, _dir) = config(&[]);
        assert!(matches!(
            preflight(&config, &RegisterArgs::default()),
            Err(StartRefused::Config(ConfigError::MissingSecret))
        ));
    }
}
