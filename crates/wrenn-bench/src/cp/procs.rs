//! The real processes of suite `cp`: the built `wrenn-agent` and `wrenn-cp`
//! binaries on free loopback ports, their logs in a temporary directory, and
//! a stop that ends them (SIGTERM, then SIGKILL) before the suite returns.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context;
use connectrpc::client::{ClientConfig, HttpClient};
use wrenn_proto::wrenn::agent::v1::AgentServiceClient;

const START_LIMIT: Duration = Duration::from_secs(120);
const STOP_LIMIT: Duration = Duration::from_secs(60);

pub type AgentClient = AgentServiceClient<HttpClient>;

/// The binary `name`: `$env_var`, else beside this benchmark's own binary
/// (the same target directory and profile), else `target/release`, else
/// `target/debug`.
pub fn binary(name: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        return Ok(path.into());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    beside
        .into_iter()
        .chain(["release", "debug"].map(|p| Path::new("target").join(p).join(name)))
        .find(|path| path.is_file())
        .with_context(|| {
            format!("no {name} binary: build it (cargo build --release -p {name}) or set {env_var}")
        })
}

/// "release" or "debug", from where `binary` was found.
pub fn profile(binary: &Path) -> &'static str {
    if binary
        .components()
        .any(|c| c.as_os_str() == std::ffi::OsStr::new("debug"))
    {
        "debug"
    } else {
        "release"
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process that logs to a file and is killed if dropped.
#[derive(Debug)]
struct Child {
    name: &'static str,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Child {
    fn spawn(
        name: &'static str,
        mut command: tokio::process::Command,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let file = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self { name, child, log })
    }

    /// Polls `url` until it answers 2xx; fails early if the process exits.
    async fn wait_healthy(&mut self, url: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < START_LIMIT {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited at start-up ({status}); log: {}",
                    self.name,
                    self.log.display()
                );
            }
            if let Ok(answer) = http.get(url).send().await {
                if answer.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "{} did not answer {url} within {START_LIMIT:?}; log: {}",
            self.name,
            self.log.display()
        )
    }

    /// SIGTERM and wait; SIGKILL if it does not exit in time.
    async fn stop(mut self) -> anyhow::Result<()> {
        use nix::{sys::signal, unistd::Pid};
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(STOP_LIMIT, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
                eprintln!("cp: {} ignored SIGTERM and was killed", self.name);
            }
        }
        Ok(())
    }
}

/// `wrenn-agent serve` with a random secret.
#[derive(Debug)]
pub struct Agent {
    child: Child,
    pub url: String,
    secret: String,
    pub binary: PathBuf,
}

impl Agent {
    pub async fn start(log_dir: &Path) -> anyhow::Result<Self> {
        let binary = binary("wrenn-agent", "WRENN_AGENT_BIN")?;
        let port = free_port()?;
        let secret = wrenn_cp::auth::random_token(32);
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("serve")
            .env("AGENT_SECRET", &secret)
            .env_remove("AGENT_SECRET_FILE")
            .env("AGENT_LISTEN_ADDR", format!("127.0.0.1:{port}"));
        let child = Child::spawn("wrenn-agent", command, log_dir.join("agent.log"))?;
        let mut agent = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            secret,
            binary,
        };
        let health = format!("{}/health", agent.url);
        agent.child.wait_healthy(&health).await?;
        Ok(agent)
    }

    /// The control plane's own client of this agent, for its envd proxy
    /// (commands in a sandbox go there, not to an RPC).
    pub fn proxy(&self) -> anyhow::Result<wrenn_cp::agent::connect::ConnectAgent> {
        let secret = wrenn_cp::config::SecretString::new(self.secret.clone());
        Ok(wrenn_cp::agent::connect::ConnectAgent::new(
            &self.url, secret,
        )?)
    }

    pub fn client(&self) -> anyhow::Result<AgentClient> {
        let config = ClientConfig::new(self.url.parse()?)
            .with_default_header("authorization", format!("Bearer {}", self.secret));
        Ok(AgentServiceClient::new(HttpClient::plaintext(), config))
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.child.stop().await
    }
}

/// `wrenn-cp` on a fresh SQLite database, its local host being `agent`.
#[derive(Debug)]
pub struct ControlPlane {
    child: Child,
    pub url: String,
}

impl ControlPlane {
    pub async fn start(dir: &Path, agent: &Agent) -> anyhow::Result<Self> {
        let binary = binary("wrenn-cp", "WRENN_CP_BIN")?;
        let port = free_port()?;
        let mut command = tokio::process::Command::new(binary);
        command
            .env("CP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            // Its agent registers at loopback.
            .env("CP_ALLOW_PRIVATE_HOST_ADDRS", "true")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.join("cp.db").display()),
            )
            .env("CP_JWT_SECRET", wrenn_cp::auth::random_token(48))
            .env("CP_AGENT_URL", &agent.url)
            .env("CP_AGENT_SECRET", &agent.secret)
            .env_remove("CP_AGENT_SECRET_FILE")
            .env("CP_MAX_SANDBOXES_PER_TEAM", "1000")
            // Reconcile once, at start-up, only: a later pass would destroy
            // the sandboxes the cp-overhead suite makes straight through the
            // agent, which the control plane has no record of.
            .env("CP_RECONCILE_INTERVAL_SECS", "3600")
            .env("CP_LOG", "warn");
        let child = Child::spawn("wrenn-cp", command, dir.join("cp.log"))?;
        let mut cp = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let health = format!("{}/health", cp.url);
        cp.child.wait_healthy(&health).await?;
        Ok(cp)
    }

    /// `binary` on `database_url` with no agent, its request limits at
    /// `rate_limit` requests/s (and burst) per key and per team, logging
    /// to `log` (suite `cp-list`).
    pub async fn start_binary(
        binary: &Path,
        database_url: &str,
        rate_limit: &str,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = tokio::process::Command::new(binary);
        command
            .env("CP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("CP_JWT_SECRET", wrenn_cp::auth::random_token(48))
            .env_remove("CP_AGENT_URL")
            .env_remove("CP_AGENT_SECRET")
            .env_remove("CP_AGENT_SECRET_FILE")
            .env("CP_RATE_LIMIT", "on")
            .env("CP_LOG", "warn");
        for name in [
            "CP_RATE_LIMIT_KEY_PER_SEC",
            "CP_RATE_LIMIT_KEY_BURST",
            "CP_RATE_LIMIT_TEAM_PER_SEC",
            "CP_RATE_LIMIT_TEAM_BURST",
        ] {
            command.env(name, rate_limit);
        }
        let child = Child::spawn("wrenn-cp", command, log.to_owned())?;
        let mut cp = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let health = format!("{}/health", cp.url);
        cp.child.wait_healthy(&health).await?;
        Ok(cp)
    }

    /// The process id (suite `proxy` samples its memory).
    pub fn pid(&self) -> Option<u32> {
        self.child.child.id()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.child.stop().await
    }
}
