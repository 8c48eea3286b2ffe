//! A running Wrenn: `wrenn-agent serve` (QEMU backend, the host's data
//! directory) and `wrenn-cp` on SQLite or a throw-away PostgreSQL database.
//! Dropping the stack (also on panic) destroys the sandboxes and template
//! images the run created, through the agent, then stops both processes;
//! after a panic it prints the tail of their logs.
use std::{
    collections::BTreeSet,
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use wrenn_cp::{
    agent::{connect::ConnectAgent, AgentApi},
    config::SecretString,
};

use super::{cli::Cli, host, postgres::TestDatabase, START_LIMIT};

const AGENT_SECRET: &str = "cp-e2e-agent-secret-0123456789";
const JWT_SECRET: &str = "cp-e2e-jwt-secret-0123456789abcdef0123";

/// Where the control plane keeps its data.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file in the stack's temporary directory.
    Sqlite,
    /// A fresh database on this PostgreSQL server (its maintenance URL),
    /// dropped with the stack.
    Postgres(String),
}

/// A binary under test. `wrenn-cp` is built by cargo for this test; the
/// agent and the CLI are other packages' binaries, so they are taken from
/// the same target directory, where `cargo build -p wrenn-agent -p
/// wrenn-cli` must have put them first (tests/run-all.sh does), unless
/// `var` names another path.
pub fn binary(var: &str, name: &str, package: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return path.into();
    }
    let path = Path::new(env!("CARGO_BIN_EXE_wrenn-cp")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p {package}` first, or set {var}",
        path.display()
    );
    path
}

/// One child process, logging to a file; stopped when dropped.
#[derive(Debug)]
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, mut command: Command, log: PathBuf) -> Self {
        let file = File::create(&log).expect("create a log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child, log }
    }

    /// Polls `url` until it answers 2xx; panics if the process exits first.
    async fn wait_healthy(&mut self, url: &str) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited at start-up ({status}):\n{}",
                    self.name,
                    tail(&self.log)
                );
            }
            if let Ok(r) = http.get(url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer {url} within {START_LIMIT:?}:\n{}",
                self.name,
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(30));
    }
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// An agent and a control plane wired together.
#[derive(Debug)]
pub struct Stack {
    pub cp_url: String,
    agent_url: String,
    cp: Option<Daemon>,
    agent: Option<Daemon>,
    /// Sandboxes and images the host had before the run: never touched.
    sandboxes_before: BTreeSet<String>,
    images_before: BTreeSet<String>,
    database: Option<TestDatabase>,
    dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start(database: Database) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let agent_port = free_port();
        let agent_url = format!("http://127.0.0.1:{agent_port}");
        let mut command = Command::new(binary("WRENN_AGENT_BIN", "wrenn-agent", "wrenn-agent"));
        command
            .arg("serve")
            .env("AGENT_SECRET", AGENT_SECRET)
            .env("AGENT_LISTEN_ADDR", format!("127.0.0.1:{agent_port}"))
            .env("AGENT_BACKEND", "qemu")
            .env_remove("AGENT_SECRET_FILE")
            .env_remove("AGENT_WARM_TEMPLATES");
        let mut agent = Daemon::spawn("wrenn-agent", command, dir.path().join("agent.log"));
        agent.wait_healthy(&format!("{agent_url}/health")).await;
        let images_before = host::images();
        let mut stack = Self {
            cp_url: String::new(),
            agent_url,
            cp: None,
            agent: Some(agent),
            sandboxes_before: BTreeSet::new(),
            images_before,
            database: None,
            dir,
        };
        stack.sandboxes_before = stack
            .agent_api()
            .list()
            .await
            .expect("list the agent's sandboxes")
            .into_iter()
            .map(|s| s.id)
            .collect();

        let database_url = match database {
            Database::Sqlite => format!("sqlite://{}", stack.dir.path().join("cp.db").display()),
            Database::Postgres(admin_url) => {
                let db = TestDatabase::create(&admin_url).await;
                let url = db.url.clone();
                stack.database = Some(db);
                url
            }
        };
        let cp_port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_wrenn-cp"));
        command
            .env("DATABASE_URL", database_url)
            .env("CP_JWT_SECRET", JWT_SECRET)
            .env("CP_LISTEN_ADDR", format!("127.0.0.1:{cp_port}"))
            // Its agent registers at loopback.
            .env("CP_ALLOW_PRIVATE_HOST_ADDRS", "true")
            .env("CP_AGENT_URL", &stack.agent_url)
            .env("CP_AGENT_SECRET", AGENT_SECRET)
            .env_remove("CP_AGENT_SECRET_FILE")
            .env_remove("CP_JWT_SECRET_FILE");
        stack.cp_url = format!("http://127.0.0.1:{cp_port}");
        let mut cp = Daemon::spawn("wrenn-cp", command, stack.dir.path().join("cp.log"));
        cp.wait_healthy(&format!("{}/health", stack.cp_url)).await;
        stack.cp = Some(cp);
        stack
    }

    /// A CLI user with its own, empty config directory.
    pub fn cli(&self, user: &str) -> Cli {
        let config_dir = self.dir.path().join(format!("cli-{user}"));
        std::fs::create_dir_all(&config_dir).expect("CLI config directory");
        Cli {
            bin: binary("WRENN_CLI_BIN", "wrenn", "wrenn-cli"),
            config_dir,
            api_url: self.cp_url.clone(),
        }
    }

    /// A scratch directory for local files.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    fn agent_api(&self) -> ConnectAgent {
        ConnectAgent::new(&self.agent_url, SecretString::new(AGENT_SECRET)).expect("agent URL")
    }

    /// Destroys, through the agent, the sandboxes and template images this
    /// run created and did not remove. Runs on its own thread and runtime
    /// because `Drop` may run inside the test's runtime.
    fn destroy_leftovers(&self) {
        let agent = self.agent_api();
        let sandboxes_before = self.sandboxes_before.clone();
        let images: Vec<String> = host::images()
            .difference(&self.images_before)
            .cloned()
            .collect();
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(120), async {
                    for sandbox in agent.list().await.unwrap_or_default() {
                        if !sandboxes_before.contains(&sandbox.id) {
                            eprintln!("cleanup: destroying sandbox {}", sandbox.id);
                            let _ = agent.destroy(&sandbox.id).await;
                        }
                    }
                    for image in images {
                        eprintln!("cleanup: deleting template image {image}");
                        let _ = agent.delete_template(&image).await;
                    }
                })
                .await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(cleaned, Ok(Ok(()))) {
            eprintln!("warning: cleanup of the e2e stack's sandboxes did not finish");
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.agent.is_some() {
            self.destroy_leftovers();
        }
        let panicking = std::thread::panicking();
        for daemon in [self.cp.take(), self.agent.take()].into_iter().flatten() {
            let log = daemon.log.clone();
            let name = daemon.name;
            drop(daemon);
            if panicking {
                eprintln!("--- last lines of {name}'s log:\n{}", tail(&log));
            }
        }
    }
}
