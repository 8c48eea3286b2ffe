//! Warm pools end to end with real QEMU VMs (issue #15 item 2): a pool of
//! one `base:1:512` sandbox fills, a create of that shape claims it (the
//! manager's pool-hit count says so), answers with the request's id, token
//! and env vars, pauses and resumes under its id, the pool refills, pooled VMs are never listed, and an agent
//! restart leaves no pooled QEMU, `wrn-*` network namespace or file.
//! Bad input (issue #15): under memory pressure the pools shrink to nothing
//! and do not refill until memory is back; a template deleted while its
//! pool is warm drains that pool and leaves no VM, disk, namespace or TAP.
//! Needs root, the kernel and the base image; run under the VM lock:
//! `flock /tmp/wrenn-vm.lock cargo test -p wrenn-agent --test warm_pool --
//! --ignored --test-threads=1`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, path::Path, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::{warm::parse_specs, EgressSpec, SandboxManager, SandboxState},
    vmm::qemu::QemuBackend,
};

mod common;

const LIMIT: Duration = Duration::from_secs(600);

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn warm_pool_when_create_matches_then_claimed_refilled_hidden_and_cleaned_on_restart() {
    tokio::time::timeout(LIMIT, scenario())
        .await
        .expect("finished in time");
}

/// Waits (polling, no wall-time assertion beyond the test's own limit)
/// until the manager holds `n` idle warm sandboxes.
async fn until_warm(m: &SandboxManager<QemuBackend>, n: usize) {
    while m.warm_report().warm != n {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The VMM pids recorded under `<data>/warm`.
fn pooled_pids(warm_dir: &Path) -> Vec<u32> {
    pooled_pids_of(warm_dir, None)
}

/// The VMM pids recorded under `<data>/warm` for pooled sandboxes of
/// `template` (every template: `None`).
fn pooled_pids_of(warm_dir: &Path, template: Option<&str>) -> Vec<u32> {
    std::fs::read_dir(warm_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("sandbox.json")).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|r| template.is_none_or(|t| r["config"]["template"] == t))
        .filter_map(|r| r["pid"].as_u64())
        .map(|p| p as u32)
        .collect()
}

/// The entries of `<data>/warm` (pooled sandboxes' directories and disks).
fn warm_entries(warm_dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(warm_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// Waits until every one of `pids` has exited.
async fn until_gone(pids: &[u32]) {
    for pid in pids {
        while alive(*pid) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Nothing of a pooled VM is left beyond `pooled` idle ones: no other
/// directory under `<data>/warm`, no other QEMU running from it, and one
/// `wrn-*` network namespace (its TAP lives inside it) per running
/// sandbox or pooled VM.
async fn assert_pool_leftovers(m: &SandboxManager<QemuBackend>, warm_dir: &Path, pooled: usize) {
    // A stopped pooled VM's directory goes just after its process: wait
    // for it (a leak never gets there and fails at the test's limit).
    while warm_entries(warm_dir).len() > pooled {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = warm_entries(warm_dir);
    assert_eq!(left.len(), pooled, "pooled files: {left:?}");
    let running = m
        .list()
        .iter()
        .filter(|s| s.state == SandboxState::Running)
        .count();
    let netns = tokio::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .await
        .expect("ip netns");
    let netns = String::from_utf8_lossy(&netns.stdout);
    let sandbox_netns = netns.lines().filter(|l| l.starts_with("wrn-")).count();
    assert_eq!(
        sandbox_netns,
        running + pooled,
        "network namespaces: {netns}"
    );
    let qemu_in_warm = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&format!("{}/", warm_dir.display())))
        .count();
    assert_eq!(qemu_in_warm, pooled, "QEMU processes of pooled VMs");
}

/// A live (not zombie) process `pid`.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

async fn scenario() {
    let m = common::manager(Duration::from_secs(180)).await;
    let listed_before = m.list().len();
    m.warm_template(&"base".parse().unwrap(), 1, 512)
        .await
        .expect("base snapshot");
    let warm_dir = m.options().data.root().join("warm");
    let specs = parse_specs("base:1:512:1").unwrap();
    let _pools = m.start_warm_pools(&specs, 256).expect("pool task");
    assert!(
        m.start_warm_pools(&specs, 256).is_none(),
        "pools are set once per manager"
    );

    until_warm(&m, 1).await;
    assert_eq!(m.list().len(), listed_before, "pooled VMs are never listed");
    assert_eq!(m.warm_report().hits, 0);

    let env = BTreeMap::from([("WARM_PROBE".to_owned(), "claimed".to_owned())]);
    let info = m
        .create(common::config(EgressSpec::default(), env))
        .await
        .expect("create");
    assert_eq!(m.warm_report().hits, 1, "the create was a pool hit");
    assert_eq!(info.state, SandboxState::Running);
    assert!(m
        .options()
        .data
        .root()
        .join("sandboxes")
        .join(info.id.as_str())
        .join("sandbox.json")
        .is_file());
    let out = m
        .exec(&info.id, ExecRequest::shell("echo $WARM_PROBE; whoami"))
        .await
        .expect("exec with the request's token");
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "claimed\nuser\n");
    // envd answers only to the request's token now.
    let (url, token) = m.envd_endpoint(&info.id).expect("endpoint");
    let mut wrong = ExecRequest::shell("true");
    wrong.access_token = Some("not-the-token".into());
    assert!(wrenn_agent::envd_client::exec(&url, &wrong).await.is_err());
    let mut right = ExecRequest::shell("true");
    right.access_token = Some(token.expose().to_owned());
    wrenn_agent::envd_client::exec(&url, &right)
        .await
        .expect("the request's token");

    // The claimed VM's files moved under its id: pause and resume work there.
    m.pause(&info.id).await.expect("pause the claimed sandbox");
    m.resume(&info.id)
        .await
        .expect("resume the claimed sandbox");
    let out = m
        .exec(&info.id, ExecRequest::shell("echo $WARM_PROBE"))
        .await
        .expect("exec after resume");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "claimed\n");

    until_warm(&m, 1).await;
    let listed: Vec<_> = m.list().into_iter().map(|s| s.id).collect();
    assert_eq!(listed.len(), listed_before + 1, "{listed:?}");
    assert!(listed.contains(&info.id));
    m.destroy(&info.id).await.expect("destroy");

    // The agent goes away with a full pool; the next one cleans it.
    let pids = pooled_pids(&warm_dir);
    assert_eq!(pids.len(), 1, "one pooled VM on disk");
    assert!(pids.iter().all(|&p| alive(p)));
    drop(m);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m2 = common::manager(Duration::from_secs(180)).await;
    until_gone(&pids).await;
    let left: Vec<_> = std::fs::read_dir(&warm_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "pooled files left: {left:?}");
    assert_eq!(m2.warm_report().warm, 0, "pools are off unless asked for");
    // Each running sandbox has one namespace (its TAP lives inside it);
    // a pooled VM's namespace, and with it its TAP, is gone.
    let running = m2
        .list()
        .iter()
        .filter(|s| s.state == SandboxState::Running)
        .count();
    let netns = tokio::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .await
        .expect("ip netns");
    let netns = String::from_utf8_lossy(&netns.stdout);
    let sandbox_netns = netns.lines().filter(|l| l.starts_with("wrn-")).count();
    assert_eq!(sandbox_netns, running, "network namespaces: {netns}");
    let qemu_in_warm = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(&format!("{}/", warm_dir.display())))
        .count();
    assert_eq!(qemu_in_warm, 0, "QEMU processes of pooled VMs left");
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn warm_pool_when_memory_low_or_template_deleted_then_shrunk_drained_nothing_left() {
    tokio::time::timeout(LIMIT, bad_input())
        .await
        .expect("finished in time");
}

/// The pool of `template` in the manager's report: (idle, target, asked).
fn pool_of(m: &SandboxManager<QemuBackend>, template: &str) -> Option<(usize, usize, usize)> {
    m.warm_report()
        .pools
        .iter()
        .find(|p| p.shape.template.as_str() == template)
        .map(|p| (p.idle, p.target, p.asked))
}

async fn bad_input() {
    let m = common::manager(Duration::from_secs(180)).await;
    let base = "base".parse().unwrap();
    m.warm_template(&base, 1, 512).await.expect("base snapshot");
    let warm_dir = m.options().data.root().join("warm");
    // A team template of the same shape, made from a sandbox, to delete
    // while its pool is warm.
    let name = format!("warm-drop-{}", std::process::id());
    let template = name.parse().unwrap();
    let source = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("source sandbox");
    m.snapshot_to_template(&source.id, &template, true, None)
        .await
        .expect("template with a memory snapshot");
    m.destroy(&source.id).await.expect("destroy the source");

    let specs = parse_specs(&format!("base:1:512:1,{name}:1:512:1")).unwrap();
    let _pools = m.start_warm_pools(&specs, 256).expect("pool task");
    until_warm(&m, 2).await;
    assert_eq!(pool_of(&m, "base"), Some((1, 1, 1)));
    assert_eq!(pool_of(&m, &name), Some((1, 1, 1)));
    assert_pool_leftovers(&m, &warm_dir, 2).await;

    // Memory pressure: MemAvailable under the reserve. Every idle pooled
    // VM stops and the targets drop to nothing, so nothing refills.
    let pids = pooled_pids(&warm_dir);
    assert_eq!(pids.len(), 2, "two pooled VMs on disk");
    m.set_warm_reserve_mib(1 << 40);
    until_warm(&m, 0).await;
    until_gone(&pids).await;
    assert_eq!(
        pool_of(&m, "base"),
        Some((0, 0, 1)),
        "shrunk, not refilling"
    );
    assert_eq!(pool_of(&m, &name), Some((0, 0, 1)), "shrunk, not refilling");
    assert_pool_leftovers(&m, &warm_dir, 0).await;

    // Memory back: the pools grow back to what was asked.
    m.set_warm_reserve_mib(256);
    until_warm(&m, 2).await;
    assert_eq!(pool_of(&m, &name), Some((1, 1, 1)));

    // The template goes while its pool is warm: that pool drains, the
    // other stays.
    let doomed = pooled_pids_of(&warm_dir, Some(&name));
    assert_eq!(doomed.len(), 1, "one pooled VM of {name}");
    m.delete_template(&template).expect("template deleted");
    assert!(!m.templates().exists(&template));
    until_gone(&doomed).await;
    until_warm(&m, 1).await;
    while pool_of(&m, &name).is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pool_of(&m, "base"), Some((1, 1, 1)));
    // A stopped pooled VM's directory goes just after its process (the
    // drain removes it then): wait for that, but not for ever.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !pooled_pids_of(&warm_dir, Some(&name)).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the drained pool's directories of {name} are still there after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_pool_leftovers(&m, &warm_dir, 1).await;
    // A create of the deleted template is refused, not served from a pool.
    let mut config = common::config(EgressSpec::default(), BTreeMap::new());
    config.template = template.clone();
    assert!(m.create(config).await.is_err());
    let hits = m.warm_report().hits;
    assert_eq!(hits, 0, "no create was served from a pool");

    // Leave nothing for the next test: targets to nothing, then stop.
    let last = pooled_pids(&warm_dir);
    m.set_warm_reserve_mib(1 << 40);
    until_warm(&m, 0).await;
    until_gone(&last).await;
    assert_pool_leftovers(&m, &warm_dir, 0).await;
}
