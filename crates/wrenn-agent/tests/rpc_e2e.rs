//! End-to-end tests of `wrenn-agent serve`: the real binary, real QEMU VMs of
//! the `base` image, driven through the generated Connect client and, for
//! commands and files, the agent's envd proxy (the control plane's one road
//! into the guest). They need
//! root, QEMU, the kernel and base image in /var/lib/wrenn, and a host no one
//! else is running sandboxes on (start-up recovery sweeps every `wrn-*`
//! network). Run serially:
//! `cargo test -p wrenn-agent --test rpc_e2e -- --ignored --test-threads=1`.
//!
//! On a shared host, isolate the run in private mount and network namespaces
//! with its own data directory (symlink `kernels` and `images` into it):
//! `unshare -m -n --propagation private sh -c 'mount -t tmpfs tmpfs /run/netns;
//! ip link set lo up; WRENN_DATA_DIR=/tmp/e2e <test binary> --ignored
//! --test-threads=1'`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    process::{ExitStatus, Stdio},
    time::Duration,
};

use connectrpc::client::{CallOptions, ClientConfig, HttpClient};
use wrenn_proto::{
    process::{
        __buffa::oneof::process_event::{data_event::Output, Event},
        ProcessClient, ProcessConfig, StartRequest, StartResponse,
    },
    wrenn::agent::v1::{self as pb, AgentServiceClient, SandboxState},
};

const SECRET: &str = "e2e-secret-0123456789abcdef";
const START_LIMIT: Duration = Duration::from_secs(300);
const CALL_LIMIT: Duration = Duration::from_secs(300);

type Client = AgentServiceClient<HttpClient>;

/// One `wrenn-agent serve` process; killed when dropped.
struct Agent {
    child: tokio::process::Child,
    port: u16,
}

impl Agent {
    async fn start(port: u16) -> Self {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wrenn-agent"))
            .arg("serve")
            .env("AGENT_SECRET", SECRET)
            .env("AGENT_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("AGENT_BACKEND", "qemu")
            .env_remove("AGENT_SECRET_FILE")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn wrenn-agent serve");
        let agent = Self { child, port };
        agent.wait_healthy().await;
        agent
    }

    async fn wait_healthy(&self) {
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let http = reqwest::Client::new();
        tokio::time::timeout(START_LIMIT, async {
            loop {
                if let Ok(r) = http.get(&url).send().await {
                    if r.status().is_success() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("agent answered /health in time");
    }

    fn client(&self) -> Client {
        let uri = format!("http://127.0.0.1:{}", self.port)
            .parse()
            .expect("uri");
        let config =
            ClientConfig::new(uri).with_default_header("authorization", format!("Bearer {SECRET}"));
        AgentServiceClient::new(HttpClient::plaintext(), config)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id().expect("running")).expect("pid")
    }

    async fn signal_and_wait(mut self, signal: nix::sys::signal::Signal) -> ExitStatus {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).expect("kill");
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("agent exited in time")
            .expect("wait")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(CALL_LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {CALL_LIMIT:?}"))
}

async fn create(client: &Client) -> pb::Sandbox {
    let request = pb::CreateSandboxRequest {
        template: "base".into(),
        vcpus: 1,
        memory_mib: 512,
        timeout_secs: 1800,
        ..Default::default()
    };
    let sandbox = bounded("create", client.create_sandbox(request))
        .await
        .expect("create")
        .into_owned()
        .sandbox
        .into_option()
        .expect("sandbox");
    assert_eq!(
        sandbox.state.as_known(),
        Some(SandboxState::SANDBOX_STATE_RUNNING)
    );
    assert!(!sandbox.envd_url.is_empty() && !sandbox.envd_access_token.is_empty());
    sandbox
}

/// The agent's envd proxy for sandbox `id`: what the control plane uses for
/// every call into the guest.
fn envd_url(port: u16, id: &str) -> String {
    format!("http://127.0.0.1:{port}/envd/{id}")
}

/// Runs a command through the envd proxy (envd's `Process.Start`); returns
/// (stdout, stderr, exit code), checking event order.
async fn exec(port: u16, id: &str, command: &str) -> (Vec<u8>, Vec<u8>, i32) {
    let uri = envd_url(port, id).parse().expect("uri");
    let config = ClientConfig::new(uri).with_default_header("x-agent-secret", SECRET);
    let client = ProcessClient::new(HttpClient::plaintext(), config);
    let request = StartRequest {
        process: ProcessConfig {
            cmd: "/bin/bash".into(),
            args: vec!["-l".into(), "-c".into(), command.into()],
            ..Default::default()
        }
        .into(),
        ..Default::default()
    };
    // `user:` as HTTP Basic: envd runs the command as `user`.
    let options = CallOptions::default()
        .with_timeout(CALL_LIMIT)
        .with_header("authorization", "Basic dXNlcjo=");
    bounded("exec", async {
        let mut stream = client
            .start_with_options(request, options)
            .await
            .expect("exec");
        let (mut out, mut err, mut started) = (Vec::new(), Vec::new(), false);
        while let Some(message) = stream.message::<StartResponse>().await.expect("event") {
            let event = message.to_owned_message().event.into_option();
            match event.and_then(|e| e.event) {
                Some(Event::Start(s)) => {
                    assert!(s.pid > 0);
                    started = true;
                }
                Some(Event::Data(data)) => match data.output {
                    Some(Output::Stdout(bytes)) => out.extend(bytes),
                    Some(Output::Stderr(bytes)) => err.extend(bytes),
                    _ => {}
                },
                Some(Event::End(end)) => {
                    assert!(started, "ended before started");
                    return (out, err, end.exit_code);
                }
                _ => {}
            }
        }
        panic!("exec stream ended without an end event");
    })
    .await
}

/// Streams `chunks` into `path` through the envd proxy; answers the size
/// the guest then reports (`stat`).
async fn write_file(port: u16, id: &str, path: &str, chunks: Vec<Vec<u8>>) -> u64 {
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ));
    let response = bounded(
        "write_file",
        reqwest::Client::new()
            .post(format!("{}/files", envd_url(port, id)))
            .query(&[("path", path), ("username", "user")])
            .header("x-agent-secret", SECRET)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send(),
    )
    .await
    .expect("write_file");
    assert!(response.status().is_success(), "write_file: {response:?}");
    let (size, _, code) = exec(port, id, &format!("stat -c %s {path}")).await;
    assert_eq!(code, 0, "stat {path}");
    String::from_utf8_lossy(&size).trim().parse().expect("size")
}

async fn read_file(port: u16, id: &str, path: &str) -> Vec<u8> {
    bounded("read_file", async {
        let response = reqwest::Client::new()
            .get(format!("{}/files", envd_url(port, id)))
            .query(&[("path", path), ("username", "user")])
            .header("x-agent-secret", SECRET)
            .send()
            .await
            .expect("read_file");
        assert!(response.status().is_success(), "read_file: {response:?}");
        response.bytes().await.expect("body").to_vec()
    })
    .await
}

async fn state_of(client: &Client, id: &str) -> Option<SandboxState> {
    let request = pb::GetSandboxRequest {
        id: id.into(),
        ..Default::default()
    };
    bounded("get", client.get_sandbox(request))
        .await
        .expect("get")
        .into_owned()
        .sandbox
        .into_option()
        .and_then(|s| s.state.as_known())
}

async fn destroy(client: &Client, id: &str) {
    let request = pb::DestroySandboxRequest {
        id: id.into(),
        ..Default::default()
    };
    bounded("destroy", client.destroy_sandbox(request))
        .await
        .expect("destroy");
}

async fn list(client: &Client) -> Vec<pb::Sandbox> {
    bounded(
        "list",
        client.list_sandboxes(pb::ListSandboxesRequest::default()),
    )
    .await
    .expect("list")
    .into_owned()
    .sandboxes
}

/// Waits (up to 10 min) until the agent is building no template snapshot.
/// An agent builds the built-in templates' snapshots after it starts (when
/// the image changed, none is cached yet); such a build holds a network
/// slot of its own, which a build aborted by the agent's shutdown leaves
/// to the next start's sweep. The checks that the host is clean are about
/// the sandbox under test, so they wait for any build to end first.
async fn wait_template_builds_done() {
    let data = std::env::var_os("WRENN_DATA_DIR").unwrap_or_else(|| "/var/lib/wrenn".into());
    let dir = std::path::Path::new(&data)
        .join("snapshots")
        .join("templates");
    let building = || {
        std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while building() {
        assert!(
            std::time::Instant::now() < deadline,
            "a template snapshot build in {} did not finish in 10 min",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// No sandbox network namespace and no QEMU of `id` remain.
fn assert_host_clean(id: &str) {
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(
        !netns.lines().any(|l| l.starts_with("wrn-")),
        "namespaces left: {netns}"
    );
    let qemu = std::process::Command::new("pgrep")
        .args(["-f", &format!("qemu-system.*{id}")])
        .output()
        .expect("pgrep");
    assert!(
        qemu.stdout.is_empty(),
        "qemu processes left: {}",
        String::from_utf8_lossy(&qemu.stdout)
    );
}

fn pattern(chunk: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + chunk * 7) % 251) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU and the base image; run with --ignored --test-threads=1"]
async fn lifecycle_through_rpc_and_proxy_when_create_exec_files_pause_resume_destroy_then_host_clean(
) {
    let agent = Agent::start(free_port()).await;
    let client = agent.client();
    let sandbox = create(&client).await;
    let id = sandbox.id.clone();

    let (out, err, code) = exec(
        agent.port,
        &id,
        "python3 -c 'import sys; print(6 * 7); print(\"to-stderr\", file=sys.stderr)'",
    )
    .await;
    assert_eq!(code, 0, "stderr: {}", String::from_utf8_lossy(&err));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "42");
    assert!(String::from_utf8_lossy(&err).contains("to-stderr"));

    let chunks: Vec<Vec<u8>> = (0..4).map(|i| pattern(i, 300 * 1024)).collect();
    let expected: Vec<u8> = chunks.concat();
    let path = "/home/user/rpc-e2e.bin";
    assert_eq!(
        write_file(agent.port, &id, path, chunks).await,
        expected.len() as u64
    );
    assert!(
        read_file(agent.port, &id, path).await == expected,
        "read back differs"
    );

    let paused = bounded(
        "pause",
        client.pause_sandbox(pb::PauseSandboxRequest {
            id: id.clone(),
            ..Default::default()
        }),
    )
    .await
    .expect("pause")
    .into_owned();
    let paused_state = paused
        .sandbox
        .into_option()
        .and_then(|s| s.state.as_known());
    assert_eq!(paused_state, Some(SandboxState::SANDBOX_STATE_PAUSED));
    bounded(
        "resume",
        client.resume_sandbox(pb::ResumeSandboxRequest {
            id: id.clone(),
            ..Default::default()
        }),
    )
    .await
    .expect("resume");
    assert_eq!(
        state_of(&client, &id).await,
        Some(SandboxState::SANDBOX_STATE_RUNNING)
    );
    assert!(
        read_file(agent.port, &id, path).await == expected,
        "file lost over pause/resume"
    );

    destroy(&client, &id).await;
    let left: Vec<String> = list(&client)
        .await
        .into_iter()
        .filter(|s| s.state.as_known() != Some(SandboxState::SANDBOX_STATE_STOPPED))
        .map(|s| s.id)
        .collect();
    assert!(left.is_empty(), "sandboxes left: {left:?}");
    wait_template_builds_done().await;
    let status = agent
        .signal_and_wait(nix::sys::signal::Signal::SIGTERM)
        .await;
    assert!(status.success(), "agent exit: {status}");
    assert_host_clean(&id);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU and the base image; run with --ignored --test-threads=1"]
async fn crash_when_agent_killed_then_restart_readopts_running_sandbox() {
    let port = free_port();
    let agent = Agent::start(port).await;
    let id = create(&agent.client()).await.id;
    let status = agent
        .signal_and_wait(nix::sys::signal::Signal::SIGKILL)
        .await;
    assert!(!status.success());

    let agent = Agent::start(port).await;
    let client = agent.client();
    let listed = list(&client).await;
    assert!(
        listed.iter().any(|s| s.id == id),
        "sandbox {id} not listed: {listed:?}"
    );
    assert_eq!(
        state_of(&client, &id).await,
        Some(SandboxState::SANDBOX_STATE_RUNNING)
    );
    let (out, _, code) = exec(agent.port, &id, "echo still-here").await;
    assert_eq!(
        (String::from_utf8_lossy(&out).trim(), code),
        ("still-here", 0)
    );

    destroy(&client, &id).await;
    wait_template_builds_done().await;
    let status = agent
        .signal_and_wait(nix::sys::signal::Signal::SIGTERM)
        .await;
    assert!(status.success(), "agent exit: {status}");
    assert_host_clean(&id);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU and the base image; run with --ignored --test-threads=1"]
async fn create_when_caller_goes_away_mid_boot_then_sandbox_destroyed() {
    let agent = Agent::start(free_port()).await;
    let client = agent.client();
    let id = wrenn_types::SandboxId::generate().to_string();
    let request = pb::CreateSandboxRequest {
        id: id.clone(),
        template: "base".into(),
        vcpus: 1,
        memory_mib: 512,
        timeout_secs: 1800,
        ..Default::default()
    };

    // The caller gives up once the agent is booting the sandbox (a control
    // plane killed mid-create).
    let booting = async {
        while !list(&client).await.iter().any(|s| s.id == id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        answer = client.create_sandbox(request) => {
            panic!("the create answered before the caller left: {:?}", answer.map(|r| r.into_owned()))
        }
        () = bounded("the create reaching the agent", booting) => {}
    }

    // Nobody will record it: the agent finishes the create, then destroys it.
    bounded("the abandoned sandbox's removal", async {
        while list(&client).await.iter().any(|s| s.id == id) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    wait_template_builds_done().await;
    assert_host_clean(&id);
    let data = std::env::var_os("WRENN_DATA_DIR").unwrap_or_else(|| "/var/lib/wrenn".into());
    let dir = std::path::Path::new(&data).join("sandboxes").join(&id);
    assert!(!dir.exists(), "{} left behind", dir.display());
}
