//! End-to-end tests of the shipped binaries: `wrenn-agent serve` booting real
//! QEMU VMs of the `base` image, `wrenn-cp` in front of it, and the `wrenn`
//! CLI driven as a subprocess through a user's whole journey. They need root,
//! QEMU, the kernel and base image in /var/lib/wrenn, and a host no one else
//! runs an agent on (an agent's start-up sweeps every `wrn-*` namespace).
//!
//! cargo builds `wrenn-cp` for this test; build the other two first:
//! `cargo build -p wrenn-agent -p wrenn-cli && cargo test -p wrenn-cp --test
//! e2e_binaries -- --ignored --test-threads=1` (or point WRENN_AGENT_BIN and
//! WRENN_CLI_BIN at them). The flow runs on SQLite, and also on PostgreSQL
//! when `WRENN_TEST_POSTGRES_URL` names a server.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

mod e2e;

use std::fmt::Write as _;

use e2e::{
    cli::Cli,
    host, postgres,
    stack::{Database, Stack},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const BIG_FILE: &str = "/home/user/e2e-big.bin";
const BIG_FILE_BYTES: usize = 20 * 1024 * 1024;
const TEMPLATE: &str = "e2e-snap";

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

async fn create_sandbox(cli: &Cli, extra: &[&str]) -> String {
    let mut args = vec!["sandbox", "create", "--timeout", "1800"];
    args.extend_from_slice(extra);
    let sandbox = cli.json(&args).await;
    assert_eq!(sandbox["state"], "running", "created: {sandbox}");
    let id = sandbox["id"].as_str().expect("sandbox id").to_owned();
    host::assert_visible(&id);
    id
}

/// `exec --no-stream`'s stdout, requiring exit code 0.
async fn sh(cli: &Cli, id: &str, line: &str) -> String {
    cli.ok(&["exec", id, "--no-stream", "--", line]).await
}

/// The whole journey of one user, from signup to a clean host.
async fn full_flow(stack: &Stack) {
    let cli = stack.cli("alice");
    let signup = cli.signup("alice@e2e.test").await;
    assert_eq!(signup["user"]["email"], "alice@e2e.test");
    let key = cli.json(&["keys", "create", "e2e", "--save"]).await;
    assert!(
        key["key"].as_str().is_some_and(|k| k.starts_with("wrn_")),
        "key: {key}"
    );
    // Acting with the saved key: an API key has a team and no user.
    let me = cli.json(&["whoami"]).await;
    assert_eq!(
        (&me["user"], &me["team"]["id"]),
        (&Value::Null, &signup["team"]["id"]),
        "me: {me}"
    );

    let id = create_sandbox(&cli, &[]).await;

    // Collected exec (envd through the host's proxy): stdout, stderr and
    // the exit code come back at the end.
    let run = cli
        .run(
            &[
                "exec",
                &id,
                "--no-stream",
                "--",
                "echo out-$((6 * 7)); echo err-$((6 * 7)) >&2; exit 3",
            ],
            None,
        )
        .await;
    assert_eq!(
        (run.stdout_text().as_str(), run.code),
        ("out-42\n", 3),
        "stderr: {}",
        run.stderr
    );
    assert!(run.stderr.contains("err-42"), "stderr: {}", run.stderr);

    // Streamed exec: stdin reaches the command, its exit code is ours.
    let run = cli
        .run(
            &["exec", &id, "--", "read x; echo got $x; exit 7"],
            Some(b"hello-stdin\n"),
        )
        .await;
    assert_eq!(run.code, 7, "stderr: {}", run.stderr);
    assert_eq!(run.stdout_text(), "got hello-stdin\n");

    // A 20 MiB file goes up and comes back intact.
    let mut data = vec![0u8; BIG_FILE_BYTES];
    getrandom::fill(&mut data).expect("random bytes");
    let digest = sha256_hex(&data);
    let local = stack.scratch().join("big.bin");
    std::fs::write(&local, &data).expect("write the local file");
    let put = cli
        .json(&[
            "files",
            "put",
            &id,
            local.to_str().expect("utf-8"),
            BIG_FILE,
        ])
        .await;
    assert_eq!(put["bytes"], BIG_FILE_BYTES, "put: {put}");
    let back = stack.scratch().join("big.back");
    cli.ok(&["files", "get", &id, BIG_FILE, back.to_str().expect("utf-8")])
        .await;
    assert_eq!(
        sha256_hex(&std::fs::read(&back).expect("downloaded file")),
        digest
    );
    let listing = cli.json(&["files", "ls", &id, "/home/user"]).await;
    let entry = listing["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == "e2e-big.bin")
        .unwrap_or_else(|| panic!("e2e-big.bin not listed: {listing}"));
    assert_eq!(
        (&entry["type"], &entry["size"]),
        (&Value::from("file"), &Value::from(BIG_FILE_BYTES))
    );

    // A background process outlives the exec that started it, and the pause.
    let pid = sh(
        &cli,
        &id,
        "setsid sleep 86400 </dev/null >/dev/null 2>&1 & echo $!",
    )
    .await;
    let pid = pid.trim().to_owned();
    let alive = format!("tr '\\0' ' ' < /proc/{pid}/cmdline");
    assert_eq!(sh(&cli, &id, &alive).await.trim(), "sleep 86400");

    let paused = cli.json(&["sandbox", "pause", &id]).await;
    assert_eq!(paused["state"], "paused");
    assert_eq!(cli.state(&id).await, "paused");
    let resumed = cli.json(&["sandbox", "resume", &id]).await;
    assert_eq!(resumed["state"], "running");
    let sum = sh(&cli, &id, &format!("sha256sum {BIG_FILE}")).await;
    assert!(sum.starts_with(&digest), "after resume: {sum}");
    assert_eq!(
        sh(&cli, &id, &alive).await.trim(),
        "sleep 86400",
        "background process after resume"
    );

    // A template snapshot carries the file into a new sandbox.
    let template = cli.json(&["template", "snapshot", &id, TEMPLATE]).await;
    assert_eq!(template["name"], TEMPLATE, "snapshot: {template}");
    let copy = create_sandbox(&cli, &["--template", TEMPLATE]).await;
    let sum = sh(&cli, &copy, &format!("sha256sum {BIG_FILE}")).await;
    assert!(sum.starts_with(&digest), "in the template's sandbox: {sum}");

    for sandbox in [&id, &copy] {
        cli.ok(&["sandbox", "kill", sandbox]).await;
    }
    for sandbox in [&id, &copy] {
        assert_eq!(cli.state(sandbox).await, "stopped", "{sandbox} after kill");
    }
    let images_with_template = host::images();
    cli.ok(&["template", "delete", TEMPLATE]).await;
    let templates = cli.json(&["template", "list"]).await;
    assert!(
        !templates["templates"]
            .as_array()
            .expect("templates")
            .iter()
            .any(|t| t["name"] == TEMPLATE),
        "still listed: {templates}"
    );
    let gone: Vec<_> = images_with_template
        .difference(&host::images())
        .cloned()
        .collect();
    assert_eq!(
        gone.len(),
        1,
        "the template's image is removed from the host: {gone:?}"
    );
    host::assert_clean(&[&id, &copy]).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU and the base image; run with --ignored --test-threads=1"]
async fn journey_on_sqlite_when_cli_drives_every_step_then_host_clean() {
    let stack = Stack::start(Database::Sqlite).await;
    full_flow(&stack).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU, the base image and PostgreSQL; run with --ignored --test-threads=1"]
async fn journey_on_postgres_when_cli_drives_every_step_then_host_clean() {
    if !postgres::available("journey_on_postgres") {
        return;
    }
    let admin_url = postgres::admin_url().expect("checked");
    let stack = Stack::start(Database::Postgres(admin_url)).await;
    full_flow(&stack).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU and the base image; run with --ignored --test-threads=1"]
async fn second_user_when_listing_or_getting_first_users_sandbox_then_sees_nothing() {
    let stack = Stack::start(Database::Sqlite).await;
    let alice = stack.cli("alice");
    alice.signup("alice@e2e.test").await;
    let id = create_sandbox(&alice, &[]).await;
    let bob = stack.cli("bob");
    bob.signup("bob@e2e.test").await;

    let listed = bob.json(&["sandbox", "list"]).await;
    assert_eq!(
        listed["sandboxes"],
        Value::Array(vec![]),
        "bob's list: {listed}"
    );
    let get = bob.run(&["sandbox", "get", &id], None).await;
    assert_eq!(get.code, 1, "stdout: {}", get.stdout_text());
    assert!(get.stderr.contains("not_found"), "stderr: {}", get.stderr);

    alice.ok(&["sandbox", "kill", &id]).await;
    host::assert_clean(&[&id]).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root, QEMU and the base image; run with --ignored --test-threads=1"]
async fn fork_when_cli_forks_a_running_sandbox_then_copies_share_its_moment_and_host_clean() {
    let stack = Stack::start(Database::Sqlite).await;
    let cli = stack.cli("alice");
    cli.signup("alice@e2e.test").await;
    let source = create_sandbox(&cli, &[]).await;
    sh(
        &cli,
        &source,
        "echo forked > /home/user/mark && (nohup sleep 900 >/dev/null 2>&1 &)",
    )
    .await;
    let sleeper = sh(&cli, &source, "pgrep -x sleep").await;

    let forked = cli
        .json(&["sandbox", "fork", &source, "--count", "2"])
        .await;

    let copies: Vec<String> = forked["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .map(|c| {
            assert_eq!(c["state"], "running", "{c}");
            c["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(copies.len(), 2, "{forked}");
    assert_eq!(cli.state(&source).await, "running", "the source runs on");
    for copy in &copies {
        host::assert_visible(copy);
        assert_eq!(sh(&cli, copy, "cat /home/user/mark").await, "forked\n");
        assert_eq!(sh(&cli, copy, "pgrep -x sleep").await, sleeper);
    }
    sh(&cli, &copies[0], "echo mine > /home/user/mark").await;
    assert_eq!(sh(&cli, &source, "cat /home/user/mark").await, "forked\n");
    let over = cli
        .run(&["sandbox", "fork", &source, "--count", "17"], None)
        .await;
    assert!(
        over.stderr.contains("fork_limit_exceeded"),
        "stderr: {}",
        over.stderr
    );

    let mut all: Vec<&str> = copies.iter().map(String::as_str).collect();
    all.push(&source);
    for id in &all {
        cli.ok(&["sandbox", "kill", id]).await;
    }
    host::assert_clean(&all).await;
    let layers = host::data_dir().join("layers");
    let left: Vec<_> = std::fs::read_dir(&layers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "fork layers left: {left:?}");
}
