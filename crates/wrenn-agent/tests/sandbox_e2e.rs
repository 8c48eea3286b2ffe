//! End-to-end sandbox lifecycle through the manager with real QEMU VMs of the
//! `base` image, TAP networking in namespaces, qcow2 disks and snapshots.
//! Needs root; run serially: `cargo test -p wrenn-agent --test sandbox_e2e --
//! --ignored --test-threads=1` (tests/run-all.sh does).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::{EgressSpec, SandboxConfig, SandboxManager, SandboxState, TimeoutAction},
    vmm::qemu::QemuBackend,
};

mod common;

async fn manager() -> SandboxManager<QemuBackend> {
    common::manager(Duration::from_secs(120)).await
}

fn config() -> SandboxConfig {
    common::config(
        EgressSpec::default(),
        BTreeMap::from([("WRENN_TEST".into(), "42".into())]),
    )
}

async fn sh(
    m: &SandboxManager<QemuBackend>,
    id: &wrenn_agent::sandbox::SandboxId,
    cmd: &str,
) -> String {
    let out = m.exec(id, ExecRequest::shell(cmd)).await.expect("exec");
    assert_eq!(
        out.exit_code,
        0,
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Status of `GET /envs` on envd, with `token` as `X-Access-Token`.
async fn envd_status(url: &str, token: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(format!("{url}/envs"));
    if let Some(token) = token {
        request = request.header("x-access-token", token);
    }
    request
        .send()
        .await
        .expect("envd answers")
        .status()
        .as_u16()
}

/// Nothing of ours is left on the host: no VMM, namespace, veth or dir.
fn assert_host_clean(m: &SandboxManager<QemuBackend>) {
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(
        !netns.lines().any(|l| l.starts_with("wrn-")),
        "namespaces left: {netns}"
    );
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("wrn-v"), "veths left: {links}");
    let dir = m.options().data.root().join("sandboxes");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("sandboxes dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("dev-") && !n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "sandbox dirs left: {left:?}");
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn sandbox_when_paused_and_resumed_then_files_and_processes_survive_and_destroy_leaves_nothing(
) {
    let m = manager().await;
    let sb = m.create(config()).await.expect("created");
    assert_eq!(sb.state, SandboxState::Running);
    let booted = common::vmm_pid(&m, sb.id.as_str());
    let booted_group = common::assert_confined(booted, sb.vcpus, sb.memory_mib);

    assert_eq!(sh(&m, &sb.id, "python3 -c 'print(6*7)'").await, "42\n");
    assert_eq!(
        sh(&m, &sb.id, "echo $WRENN_TEST").await,
        "42\n",
        "env vars from /init"
    );
    sh(
        &m,
        &sb.id,
        "echo kept > /home/user/note && (nohup sleep 900 >/dev/null 2>&1 &)",
    )
    .await;
    let sleeper = sh(&m, &sb.id, "pgrep -x sleep").await;
    let before = m.envd_target(&sb.id).expect("envd of the running sandbox");
    let token = before.token.expose().to_owned();
    assert_eq!(envd_status(&before.url, Some(&token)).await, 200);

    let paused = m.pause(&sb.id).await.expect("paused");
    assert_eq!(paused.state, SandboxState::Paused);
    assert!(
        m.exec(&sb.id, ExecRequest::shell("true")).await.is_err(),
        "no exec while paused"
    );
    assert!(
        booted_group.iter().all(|d| !d.exists()),
        "the cgroup of the paused VM is gone: {booted_group:?}"
    );
    let resumed = m.resume(&sb.id).await.expect("resumed");
    assert_eq!(resumed.state, SandboxState::Running);
    let restored = common::vmm_pid(&m, sb.id.as_str());
    let restored_group = common::assert_confined(restored, sb.vcpus, sb.memory_mib);

    assert_eq!(sh(&m, &sb.id, "cat /home/user/note").await, "kept\n");
    assert_eq!(
        sh(&m, &sb.id, "pgrep -x sleep").await,
        sleeper,
        "the same background process"
    );
    // The envd access token clients were given at create still opens envd
    // after the resume (E2B keeps it; the agent re-inits envd with it).
    let after = m.envd_target(&sb.id).expect("envd of the resumed sandbox");
    assert_eq!(after.token.expose(), token, "the token is kept");
    assert_eq!(envd_status(&after.url, Some(&token)).await, 200);
    assert_eq!(
        envd_status(&after.url, None).await,
        401,
        "envd still wants the token"
    );
    assert_eq!(envd_status(&after.url, Some("not-the-token")).await, 401);

    m.destroy(&sb.id).await.expect("destroyed");
    assert!(m.get(&sb.id).is_err());
    assert!(
        restored_group.iter().all(|d| !d.exists()),
        "the cgroup goes with the VM: {restored_group:?}"
    );
    assert_host_clean(&m);
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn template_snapshot_when_warm_then_create_restores_instead_of_booting() {
    let m = manager().await;
    let cfg = config();
    m.warm_template(&cfg.template, cfg.vcpus, cfg.memory_mib)
        .await
        .expect("template snapshot");
    let a = m.create(cfg.clone()).await.expect("first from snapshot");
    let b = m.create(cfg).await.expect("second from snapshot");
    assert!(a.from_snapshot && b.from_snapshot);
    // Each clone has its own disk layer and environment.
    sh(&m, &a.id, "echo a > /home/user/who").await;
    assert_eq!(
        sh(&m, &b.id, "cat /home/user/who 2>/dev/null || echo none").await,
        "none\n"
    );
    assert_eq!(sh(&m, &b.id, "echo $WRENN_TEST").await, "42\n");
    m.destroy_all().await;
    assert_host_clean(&m);
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn bad_input_when_creating_then_typed_errors_and_nothing_left() {
    let m = manager().await;
    let unknown = SandboxConfig {
        template: "no-such-template".parse().expect("name"),
        ..config()
    };
    assert_eq!(
        m.create(unknown).await.expect_err("unknown").code(),
        "not_found"
    );
    let huge = SandboxConfig {
        vcpus: 64,
        ..config()
    };
    assert_eq!(
        m.create(huge).await.expect_err("too many vcpus").code(),
        "invalid_argument"
    );
    let mut bad_cidr = config();
    bad_cidr.egress.allow = vec!["300.1.1.1/8".into()];
    assert_eq!(
        m.create(bad_cidr).await.expect_err("bad cidr").code(),
        "invalid_argument"
    );
    let small_disk = SandboxConfig {
        disk_mib: Some(300),
        ..config()
    };
    let err = m
        .create(small_disk)
        .await
        .expect_err("disk below the template");
    assert_eq!(err.code(), "invalid_argument", "{err}");
    assert!(m.list().is_empty(), "rejected requests create nothing");
    assert_host_clean(&m);
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn timeout_when_expired_then_pause_or_kill_as_configured() {
    let m = manager().await;
    let pauses = m
        .create(SandboxConfig {
            timeout_secs: 1,
            on_timeout: TimeoutAction::Pause,
            ..config()
        })
        .await
        .expect("a");
    let dies = m
        .create(SandboxConfig {
            timeout_secs: 1,
            ..config()
        })
        .await
        .expect("b");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    m.reap_expired().await;
    assert_eq!(m.get(&pauses.id).expect("kept").state, SandboxState::Paused);
    assert!(m.get(&dies.id).is_err(), "killed sandboxes are gone");
    m.destroy_all().await;
    assert_host_clean(&m);
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn eight_sandboxes_when_created_in_parallel_then_all_usable_and_all_cleaned() {
    let m = manager().await;
    let creates = (0..8).map(|_| m.create(config()));
    let created: Vec<_> = futures_util::future::join_all(creates).await;
    let ids: Vec<_> = created
        .into_iter()
        .map(|r| r.expect("every create succeeds").id)
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 8);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(sh(&m, id, &format!("echo {i}")).await, format!("{i}\n"));
    }
    let destroys = ids.iter().map(|id| m.destroy(id));
    for result in futures_util::future::join_all(destroys).await {
        result.expect("destroyed");
    }
    assert!(m.list().is_empty());
    assert_host_clean(&m);
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn envd_never_healthy_when_creating_then_error_with_console_tail_and_nothing_left() {
    // Far shorter than any boot: envd cannot be healthy in time.
    let m = common::manager(Duration::from_millis(300)).await;
    let err = m
        .create(SandboxConfig {
            vcpus: 2,
            ..config()
        })
        .await
        .expect_err("not healthy in time");
    assert_eq!(err.code(), "unavailable");
    let listed = m.list();
    assert_eq!(listed.len(), 1, "the failed sandbox stays listed");
    assert_eq!(listed[0].state, SandboxState::Error);
    let reason = listed[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("serial console tail"), "{reason}");
    let dir = m
        .options()
        .data
        .root()
        .join("sandboxes")
        .join(listed[0].id.as_str());
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        files,
        vec![std::ffi::OsString::from("sandbox.json")],
        "only the error record is kept"
    );
    m.destroy(&listed[0].id)
        .await
        .expect("error sandboxes can be destroyed");
    assert_host_clean(&m);
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn vmm_killed_when_booting_then_error_names_it_and_nothing_left() {
    let m = manager().await;
    let creating = tokio::spawn({
        let m = m.clone();
        async move {
            m.create(SandboxConfig {
                vcpus: 2,
                ..config()
            })
            .await
        }
    });
    // Kill QEMU as soon as the agent has recorded its pid.
    let sandboxes = m.options().data.root().join("sandboxes");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let pid = loop {
        let pid = std::fs::read_dir(&sandboxes)
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|e| {
                let record = std::fs::read(e.path().join("sandbox.json")).ok()?;
                let value: serde_json::Value = serde_json::from_slice(&record).ok()?;
                value.get("pid")?.as_i64()
            });
        if let Some(pid) = pid {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no VMM pid recorded");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGKILL,
    )
    .expect("kill");
    let err = creating.await.expect("task").expect_err("boot fails");
    assert!(err.to_string().contains("stopped while starting"), "{err}");
    m.destroy_all().await;
    assert_host_clean(&m);
}
