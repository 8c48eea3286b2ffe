//! One sandbox, many commands: the VMM must stay inside its cgroup's memory
//! limit however much guest code it runs. Under TCG every new guest process
//! (ASLR moves its code) adds translated code to QEMU's translation cache;
//! unbounded (QEMU's 1 GiB default) it outgrew the `guest + overhead` limit
//! and the kernel OOM-killed QEMU after ~120 `commands.run("true")` calls.
//! Needs root; run serially: `cargo test -p wrenn-agent --test sandbox_soak
//! -- --ignored --test-threads=1` (under `flock /tmp/wrenn-vm.lock`).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::EgressSpec,
    vmm::cgroup::{CgroupFs, SYS_FS_CGROUP},
};

mod common;

/// More runs than the ~120 after which the unbounded cache was killed.
const RUNS: usize = 400;

/// The group's OOM kills so far (v2 `memory.events`, v1 `memory.oom_control`).
fn oom_kills(dirs: &[std::path::PathBuf]) -> u64 {
    dirs.iter()
        .flat_map(|dir| ["memory.events", "memory.oom_control"].map(|f| dir.join(f)))
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .filter_map(|v| v.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn commands_when_hundreds_run_in_one_sandbox_then_vmm_never_oom_killed() {
    let m = common::manager(Duration::from_secs(120)).await;
    let sb = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("created");
    let pid = common::vmm_pid(&m, sb.id.as_str());
    let dirs = common::assert_confined(pid, sb.vcpus, sb.memory_mib);
    let fs = CgroupFs::detect(std::path::Path::new(SYS_FS_CGROUP)).expect("cgroups");
    let group = fs.group(pid);
    let mut failure = None;
    for run in 0..RUNS {
        match m.exec(&sb.id, ExecRequest::shell("true")).await {
            Ok(out) if out.exit_code == 0 => {}
            other => {
                failure = Some(format!("run {run}: {other:?}"));
                break;
            }
        }
    }
    let alive = group.contains(pid);
    let kills = oom_kills(&dirs);
    m.destroy(&sb.id).await.expect("destroyed");
    assert_eq!(failure, None, "every `true` succeeds (OOM kills: {kills})");
    assert!(alive, "QEMU {pid} still runs after {RUNS} commands");
    assert_eq!(kills, 0, "the VMM's cgroup never OOM-killed");
}
