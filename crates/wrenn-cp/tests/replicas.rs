//! Two `wrenn-cp` replicas (the real binary) on one PostgreSQL database and
//! one real `wrenn-agent` booting QEMU VMs: the agent registers through
//! replica 1, and replica 2, which never saw the registration, creates,
//! runs commands in, pauses, resumes and destroys sandboxes on it; a
//! sandbox made through either is visible and usable through the other,
//! and heartbeats are accepted by both. The control plane keeps no host
//! state of its own: connections are a cache of the host records.
//!
//! Needs root, QEMU, the kernel and `base` image in /var/lib/wrenn, a
//! PostgreSQL server (`WRENN_TEST_POSTGRES_URL`, e.g.
//! postgres://postgres:wrenn@127.0.0.1:5432/postgres) and the VM lock (the
//! agent's start-up sweeps every `wrn-*` namespace). cargo builds
//! `wrenn-cp`; build the agent first: `cargo build -p wrenn-agent && cargo
//! test -p wrenn-cp --test replicas -- --ignored --test-threads=1`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[path = "common/postgres.rs"]
#[expect(
    dead_code,
    reason = "a shared helper module: this test uses part of it"
)]
mod postgres;

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

const JWT_SECRET: &str = "replicas-jwt-secret-0123456789abcdef012345";
/// The longest a daemon may take to answer `/health`, and a host to come online.
const START_LIMIT: Duration = Duration::from_secs(120);
/// The longest one API call may take (a sandbox boot among them).
const CALL_LIMIT: Duration = Duration::from_secs(240);

/// One child process logging to a file; SIGTERM (then SIGKILL) on drop.
#[derive(Debug)]
struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &str, mut command: Command, log: PathBuf) -> Self {
        let file = File::create(&log).expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    async fn wait_healthy(&mut self, url: &str) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, tail(&self.log));
            }
            if let Ok(r) = http.get(url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer {url}:\n{}",
                self.name,
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- last lines of {}:\n{}", self.name, tail(&self.log));
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The agent binary, from the target directory cargo built `wrenn-cp` in.
fn agent_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WRENN_AGENT_BIN") {
        return path.into();
    }
    let path = Path::new(env!("CARGO_BIN_EXE_wrenn-cp")).with_file_name("wrenn-agent");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p wrenn-agent` first",
        path.display()
    );
    path
}

/// A JSON API client of one replica.
#[derive(Debug, Clone)]
struct Replica {
    url: String,
    http: reqwest::Client,
}

impl Replica {
    fn new(url: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_LIMIT)
            .build()
            .expect("client");
        Self { url, http }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the replica answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// A call that must answer `want`.
    async fn expect(
        &self,
        want: u16,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, value) = self
            .call(method.clone(), path, Some(token), &[], body)
            .await;
        assert_eq!(status, want, "{method} {} {path}: {value}", self.url);
        value
    }
}

/// Runs `echo` in a sandbox through `replica`; answers its stdout.
async fn exec(replica: &Replica, token: &str, id: &str, command: &str) -> String {
    let answer = replica
        .expect(
            200,
            reqwest::Method::POST,
            &format!("/v1/sandboxes/{id}/exec"),
            token,
            Some(json!({ "command": command })),
        )
        .await;
    assert_eq!(
        answer["exit_code"], 0,
        "exec through {}: {answer}",
        replica.url
    );
    answer["stdout"].as_str().unwrap_or_default().to_owned()
}

/// Starts a replica on `database_url`.
async fn start_replica(n: u8, database_url: &str, dir: &Path) -> (Daemon, Replica) {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wrenn-cp"));
    command
        .env("DATABASE_URL", database_url)
        .env("CP_JWT_SECRET", JWT_SECRET)
        .env("CP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        // Its agent registers at loopback.
        .env("CP_ALLOW_PRIVATE_HOST_ADDRS", "true")
        .env("CP_AGENT_URL", "")
        .env("CP_HOST_HEARTBEAT_SECS", "2")
        .env_remove("CP_AGENT_SECRET")
        .env_remove("CP_AGENT_SECRET_FILE")
        .env_remove("CP_JWT_SECRET_FILE");
    let url = format!("http://127.0.0.1:{port}");
    let mut daemon = Daemon::spawn(
        &format!("wrenn-cp replica {n}"),
        command,
        dir.join(format!("cp{n}.log")),
    );
    daemon.wait_healthy(&format!("{url}/health")).await;
    (daemon, Replica::new(url))
}

/// Destroys the sandboxes a failed run left, through replica 1.
struct Leftovers<'a> {
    replica: &'a Replica,
    token: String,
    ids: Vec<String>,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        let (replica, token, ids) = (self.replica.clone(), self.token.clone(), self.ids.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                for id in ids {
                    let path = format!("/v1/sandboxes/{id}");
                    let _ = replica
                        .call(reqwest::Method::DELETE, &path, Some(&token), &[], None)
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "boots VMs: needs root, QEMU, /var/lib/wrenn, PostgreSQL and the VM lock"]
async fn two_replicas_when_agent_registered_through_one_then_other_serves_its_sandboxes() {
    use reqwest::Method;
    let admin_url = postgres::admin_url().expect("set WRENN_TEST_POSTGRES_URL");
    let database = postgres::TestDatabase::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let (_cp1, one) = start_replica(1, &database.url, dir.path()).await;
    let (_cp2, two) = start_replica(2, &database.url, dir.path()).await;

    // Arrange: the first user (a platform admin) makes a host record
    // through replica 1, and the agent registers there.
    let signup = one
        .expect(
            201,
            Method::POST,
            "/v1/auth/signup",
            "",
            Some(json!({"email": "ops@replicas.test", "password": "correct horse battery"})),
        )
        .await;
    let token = signup["token"].as_str().expect("token").to_owned();
    let created = one
        .expect(
            201,
            Method::POST,
            "/v1/hosts",
            &token,
            Some(json!({"name": "replicas-host"})),
        )
        .await;
    let host_id = created["host"]["id"].as_str().expect("host id").to_owned();
    let registration = created["registration_token"].as_str().expect("token");
    let agent_port = free_port();
    let address = format!("127.0.0.1:{agent_port}");
    let token_file = dir.path().join("host-token");
    let mut command = Command::new(agent_binary());
    command
        .args(["serve", "--register", registration, "--address", &address])
        .args(["--cp-url", &one.url])
        .env("AGENT_LISTEN_ADDR", &address)
        .env("AGENT_TOKEN_FILE", &token_file)
        .env("AGENT_BACKEND", "qemu")
        .env_remove("AGENT_SECRET")
        .env_remove("AGENT_SECRET_FILE")
        .env_remove("AGENT_CP_URL")
        .env_remove("AGENT_WARM_TEMPLATES");
    let mut agent = Daemon::spawn("wrenn-agent", command, dir.path().join("agent.log"));
    agent
        .wait_healthy(&format!("http://{address}/health"))
        .await;

    // Replica 2 sees the host online from its heartbeats to replica 1.
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let host = two
            .expect(
                200,
                Method::GET,
                &format!("/v1/hosts/{host_id}"),
                &token,
                None,
            )
            .await;
        if host["status"] == "online" && !host["load"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host never online on replica 2: {host}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Heartbeats are accepted by either replica (the host JWT is the
    // deployment's, not one replica's).
    let credentials: Value =
        serde_json::from_slice(&std::fs::read(&token_file).expect("token file")).expect("json");
    let host_token = credentials["host_token"].as_str().expect("host token");
    // What the agent itself reported, so the scheduler's view stays true.
    let host = two
        .expect(
            200,
            Method::GET,
            &format!("/v1/hosts/{host_id}"),
            &token,
            None,
        )
        .await;
    let load = &host["load"];
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let beat = json!({"sent_at_ms": i64::try_from(now_ms).expect("ms"),
        "free": {"vcpus": load["free_vcpus"], "memory_mb": load["free_memory_mb"],
                 "disk_mb": load["free_disk_mb"]},
        "load": {"sandboxes_running": load["sandboxes_running"],
                 "sandboxes_paused": load["sandboxes_paused"]}});
    for replica in [&one, &two] {
        let (status, answer) = replica
            .call(
                Method::POST,
                &format!("/v1/hosts/{host_id}/heartbeat"),
                None,
                &[("x-host-token", host_token)],
                Some(beat.clone()),
            )
            .await;
        assert_eq!(status, 200, "heartbeat to {}: {answer}", replica.url);
        assert_eq!(answer["status"], "online");
    }

    let mut leftovers = Leftovers {
        replica: &one,
        token: token.clone(),
        ids: Vec::new(),
    };
    // Act and assert: replica 2, which never saw the registration, runs
    // the whole life of a sandbox on the host.
    let create = json!({"template": "base", "timeout_secs": 600});
    let sandbox = two
        .expect(
            201,
            Method::POST,
            "/v1/sandboxes",
            &token,
            Some(create.clone()),
        )
        .await;
    assert_eq!(sandbox["state"], "running", "{sandbox}");
    assert_eq!(sandbox["host_id"], host_id.as_str());
    let id = sandbox["id"].as_str().expect("id").to_owned();
    leftovers.ids.push(id.clone());
    assert_eq!(exec(&two, &token, &id, "echo two").await.trim(), "two");
    let path = format!("/v1/sandboxes/{id}");
    let paused = two
        .expect(200, Method::POST, &format!("{path}/pause"), &token, None)
        .await;
    assert_eq!(paused["state"], "paused");
    let seen = one.expect(200, Method::GET, &path, &token, None).await;
    assert_eq!(seen["state"], "paused", "replica 1 sees the pause: {seen}");
    let resumed = two
        .expect(200, Method::POST, &format!("{path}/resume"), &token, None)
        .await;
    assert_eq!(resumed["state"], "running");
    assert_eq!(exec(&one, &token, &id, "echo one").await.trim(), "one");

    // A sandbox made through replica 1 is usable through replica 2.
    let other = one
        .expect(201, Method::POST, "/v1/sandboxes", &token, Some(create))
        .await;
    let other_id = other["id"].as_str().expect("id").to_owned();
    leftovers.ids.push(other_id.clone());
    assert_eq!(
        exec(&two, &token, &other_id, "echo both").await.trim(),
        "both"
    );

    for (replica, sandbox) in [(&two, &id), (&two, &other_id)] {
        let path = format!("/v1/sandboxes/{sandbox}");
        replica
            .expect(204, Method::DELETE, &path, &token, None)
            .await;
        let gone = one.expect(200, Method::GET, &path, &token, None).await;
        assert_eq!(
            gone["state"], "stopped",
            "replica 1 sees the delete: {gone}"
        );
    }
    leftovers.ids.clear();
    drop(leftovers);
    drop(agent);
}
