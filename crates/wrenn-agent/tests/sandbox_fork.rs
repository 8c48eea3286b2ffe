//! Forks and filesystem-only pauses through the manager with real QEMU VMs
//! of the `base` image. Needs root; run serially under the VM lock:
//! `flock /tmp/wrenn-vm.lock cargo test -p wrenn-agent --test sandbox_fork
//! -- --ignored --test-threads=1`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::{
        EgressSpec, ForkRequest, SandboxConfig, SandboxError, SandboxId, SandboxManager,
        SandboxState, MAX_FORK_COPIES,
    },
    vmm::qemu::QemuBackend,
};

mod common;

async fn manager() -> SandboxManager<QemuBackend> {
    common::manager(Duration::from_secs(120)).await
}

fn config() -> SandboxConfig {
    common::config(EgressSpec::default(), BTreeMap::new())
}

async fn sh(m: &SandboxManager<QemuBackend>, id: &SandboxId, cmd: &str) -> String {
    let out = m.exec(id, ExecRequest::shell(cmd)).await.expect("exec");
    assert_eq!(
        out.exit_code,
        0,
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Files under `<data>/layers`, where fork layers live.
fn layers(m: &SandboxManager<QemuBackend>) -> Vec<String> {
    let dir = m.options().data.root().join("layers");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn fork_when_two_copies_then_each_sees_files_and_processes_of_the_moment_and_writes_stay_apart(
) {
    let m = manager().await;
    let source = m.create(config()).await.expect("created");
    sh(
        &m,
        &source.id,
        "echo before > /home/user/note && (nohup sleep 900 >/dev/null 2>&1 &)",
    )
    .await;
    let sleeper = sh(&m, &source.id, "pgrep -x sleep").await;
    let source_pid = common::vmm_pid(&m, source.id.as_str());
    let layers_before = layers(&m);
    let (a, b) = (SandboxId::generate(), SandboxId::generate());

    let copies = m
        .fork(
            &source.id,
            ForkRequest {
                copies: vec![a.clone(), b.clone()],
                timeout_secs: Some(120),
            },
        )
        .await
        .expect("forked");

    assert_eq!(
        copies.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [a.clone(), b.clone()]
    );
    assert!(copies.iter().all(|c| c.state == SandboxState::Running));
    assert_eq!(
        common::vmm_pid(&m, source.id.as_str()),
        source_pid,
        "the source kept its VM"
    );
    assert_eq!(
        m.get(&source.id).expect("source").state,
        SandboxState::Running
    );
    for copy in [&a, &b] {
        assert_eq!(sh(&m, copy, "cat /home/user/note").await, "before\n");
        assert_eq!(
            sh(&m, copy, "pgrep -x sleep").await,
            sleeper,
            "the process started before the fork"
        );
    }
    let token = |id: &SandboxId| m.envd_endpoint(id).expect("envd").1;
    assert_ne!(token(&a), token(&source.id), "each copy has its own token");
    assert_ne!(token(&a), token(&b));

    sh(&m, &source.id, "echo source > /home/user/after").await;
    sh(&m, &a, "echo a > /home/user/after").await;
    assert_eq!(sh(&m, &source.id, "cat /home/user/after").await, "source\n");
    assert_eq!(sh(&m, &a, "cat /home/user/after").await, "a\n");
    assert_eq!(
        sh(
            &m,
            &b,
            "test -e /home/user/after && echo shared || echo apart"
        )
        .await,
        "apart\n"
    );
    // The source still writes and syncs after the fork (its new layer).
    sh(&m, &source.id, "sync").await;

    // A second fork of the same source: its chain now reads the first
    // fork's layer, which other VMMs must be able to open too.
    let c = SandboxId::generate();
    m.fork(
        &source.id,
        ForkRequest {
            copies: vec![c.clone()],
            timeout_secs: None,
        },
    )
    .await
    .expect("forked again");
    assert_eq!(sh(&m, &c, "cat /home/user/after").await, "source\n");
    assert_eq!(sh(&m, &c, "cat /home/user/note").await, "before\n");
    m.destroy(&c).await.expect("c destroyed");
    // The source restarts from its own chain (layers, not the files its
    // first VMM held).
    m.pause(&source.id).await.expect("source paused");
    m.resume(&source.id).await.expect("source resumed");
    assert_eq!(sh(&m, &source.id, "cat /home/user/after").await, "source\n");

    m.destroy(&source.id).await.expect("source destroyed");
    assert_eq!(
        sh(&m, &a, "cat /home/user/note").await,
        "before\n",
        "a copy outlives its source"
    );
    m.destroy(&a).await.expect("a destroyed");
    m.destroy(&b).await.expect("b destroyed");
    assert_eq!(
        layers(&m),
        layers_before,
        "the fork's layer went with its last reader"
    );
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn fork_when_count_over_limit_or_source_paused_then_refused_and_nothing_made() {
    let m = manager().await;
    let source = m.create(config()).await.expect("created");
    let too_many = (0..=MAX_FORK_COPIES)
        .map(|_| SandboxId::generate())
        .collect();

    let err = m
        .fork(
            &source.id,
            ForkRequest {
                copies: too_many,
                timeout_secs: None,
            },
        )
        .await
        .expect_err("over the limit");
    assert!(matches!(err, SandboxError::ForkCount { .. }), "{err}");

    m.pause(&source.id).await.expect("paused");
    let copy = SandboxId::generate();
    let err = m
        .fork(
            &source.id,
            ForkRequest {
                copies: vec![copy.clone()],
                timeout_secs: None,
            },
        )
        .await
        .expect_err("paused source");
    assert!(matches!(err, SandboxError::ForkNotRunning { .. }), "{err}");
    assert!(m.get(&copy).is_err(), "no copy made");
    m.destroy(&source.id).await.expect("destroyed");
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn pause_disk_only_when_resumed_then_files_survive_processes_do_not_and_token_kept() {
    let m = manager().await;
    let sb = m.create(config()).await.expect("created");
    sh(
        &m,
        &sb.id,
        "echo kept > /home/user/note && (nohup sleep 900 >/dev/null 2>&1 &)",
    )
    .await;
    let token = m.envd_endpoint(&sb.id).expect("envd").1;

    let paused = m.pause_disk_only(&sb.id).await.expect("paused");
    assert_eq!(paused.state, SandboxState::Paused);
    let snapshot = m
        .options()
        .data
        .root()
        .join("sandboxes")
        .join(sb.id.as_str())
        .join("snapshot");
    assert!(!snapshot.exists(), "no memory image kept");
    let resumed = m.resume(&sb.id).await.expect("resumed");

    assert_eq!(resumed.state, SandboxState::Running);
    assert_eq!(sh(&m, &sb.id, "cat /home/user/note").await, "kept\n");
    assert_eq!(
        sh(&m, &sb.id, "pgrep -x sleep || echo none").await,
        "none\n",
        "a fresh boot"
    );
    assert_eq!(m.envd_endpoint(&sb.id).expect("envd").1, token);
    m.destroy(&sb.id).await.expect("destroyed");
}
