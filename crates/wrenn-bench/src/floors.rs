//! Suite `floors` (issue #15; needs root): pause, resume and free-page
//! reporting of a 512 MiB sandbox, each next to its floor in the same run.
//! - resume → first `run("true")` through the manager vs the floor: bare
//!   QEMU `-incoming` of the same paused memory file (the agent's own QEMU
//!   arguments, network made beforehand, a fresh overlay over the paused
//!   disk) + one envd call;
//! - pause: time and bytes written (the memory stream);
//! - free-page reporting: host PSS of a cold-booted sandbox (it has the
//!   balloon) before and after the guest allocates and frees 200 MiB, next
//!   to a sandbox restored from the template snapshot (file-backed RAM, no
//!   balloon) doing the same.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use wrenn_agent::{
    envd_client::{self, ExecRequest},
    network::{EgressPolicy, NetworkConfig, SandboxNetwork, SlotAllocator, SlotLease},
    paths::{DataDir, KernelFormat},
    sandbox::{Limits, ManagerOptions, SandboxId, SandboxManager},
    vmm::{accel, qemu::QemuBackend, Confinement, GuestNet, RunningVm, VmSpec, Vmm},
};

use crate::{
    agent_vm::{config, dir_size, pid_of, pss_kib, sandbox_dir},
    stats::median,
    Row,
};

type Manager = SandboxManager<QemuBackend>;

const MEMORY_MIB: u32 = 512;
/// What the guest allocates, touches and frees.
const ALLOC: &str = "python3 -c 'b = bytearray(200 << 20)'";
/// Free-page reporting runs 2 s after pages are freed; PSS is read once it
/// has settled (or after this long).
const SETTLE: Duration = Duration::from_secs(20);

pub async fn run(runs: usize) -> anyhow::Result<Vec<Row>> {
    let data = DataDir::from_env();
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let network = NetworkConfig::default();
    let opts = ManagerOptions {
        data: data.clone(),
        network: network.clone(),
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 8192,
            max_disk_mib: 16384,
        },
        ready_timeout: Duration::from_secs(600),
        kernel_format: KernelFormat::BzImage,
        // Benches measure the plain guest: no operator CAs to install.
        guest_ca: None,
    };
    let m = SandboxManager::new(QemuBackend::new(accel, Confinement::default_on()?), opts)?;
    m.start().await?;
    let snapshot = m.warm_template(&"base".parse()?, 1, MEMORY_MIB).await?;
    let note = format!("median of {runs}, accel {accel}, 1 vCPU, {MEMORY_MIB} MiB");

    // A cold boot: hide the template snapshot for one create.
    let hidden = snapshot.join("complete");
    std::fs::remove_file(&hidden)?;
    let cold = m.create(config(MEMORY_MIB)).await;
    std::fs::write(&hidden, b"")?;
    let cold = cold?;
    let clone = m.create(config(MEMORY_MIB)).await?;

    let mut rows = Vec::new();
    let result = async {
        rows.extend(free_pages(&m, &data, &cold.id, &clone.id).await?);
        let floor = Floor {
            backend: QemuBackend::new(accel, Confinement::default_on()?),
            network: SandboxNetwork::new(network.clone())?,
            // The manager hands out the lowest slots; the floor takes the last.
            slot: SlotAllocator::new(network.max_slots).claim(network.max_slots - 1)?,
            data: &data,
            manager: &m,
        };
        rows.extend(pause_resume(&m, &data, &floor, &cold.id, runs, &note).await?);
        anyhow::Ok(())
    }
    .await;
    for id in [&cold.id, &clone.id] {
        let _ = m.destroy(id).await;
    }
    result.map(|()| rows)
}

/// PSS of each sandbox's QEMU before, and after the guest allocated and freed
/// [`ALLOC`] (once reporting has settled).
async fn free_pages(
    m: &Manager,
    data: &DataDir,
    balloon: &SandboxId,
    plain: &SandboxId,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (id, label, what) in [
        (
            balloon,
            "balloon",
            "cold boot, ordinary RAM, free-page-reporting balloon",
        ),
        (
            plain,
            "no_balloon",
            "template clone, file-backed RAM, no balloon (floor)",
        ),
    ] {
        let pid = pid_of(data, id.as_str()).ok_or_else(|| anyhow::anyhow!("no QEMU pid"))?;
        let out = m.exec(id, ExecRequest::shell("true")).await?;
        anyhow::ensure!(out.exit_code == 0, "exec failed");
        let before = settled_pss(pid).await;
        let out = m.exec(id, ExecRequest::shell(ALLOC)).await?;
        anyhow::ensure!(
            out.exit_code == 0,
            "allocation failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = settled_pss(pid).await;
        let mib = |kib: u64| kib as f64 / 1024.0;
        let name = |figure: &str| format!("floors.free_pages.{label}.{figure}");
        rows.push(Row::new(&name("pss_before"), mib(before), "MiB", what));
        rows.push(Row::new(
            &name("pss_after_200mib_freed"),
            mib(after),
            "MiB",
            "after `python3 -c 'b = bytearray(200 << 20)'` in the guest",
        ));
        rows.push(Row::new(
            &name("retained"),
            mib(after.saturating_sub(before)),
            "MiB",
            "PSS growth the freed 200 MiB left behind",
        ));
    }
    Ok(rows)
}

/// PSS once it has stopped falling: reporting frees in batches, 2 s apart.
async fn settled_pss(pid: u32) -> u64 {
    let deadline = Instant::now() + SETTLE;
    let mut last = pss_kib(pid);
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = pss_kib(pid);
        if now + 1024 >= last || Instant::now() > deadline {
            return now.min(last);
        }
        last = now;
    }
}

async fn pause_resume(
    m: &Manager,
    data: &DataDir,
    floor: &Floor<'_>,
    id: &SandboxId,
    runs: usize,
    note: &str,
) -> anyhow::Result<Vec<Row>> {
    let dir = sandbox_dir(data, id.as_str());
    let (mut pause, mut bytes, mut resume, mut bare) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        // envd in the paused memory holds the sandbox's token.
        let token = m.envd_target(id)?.token.expose().to_owned();
        let started = Instant::now();
        m.pause(id).await?;
        pause.push(started.elapsed().as_secs_f64());
        bytes.push(dir_size(&dir.join("snapshot")) as f64 / 1048576.0);
        bare.push(floor.incoming_and_exec(&dir, &token).await?);
        let started = Instant::now();
        m.resume(id).await?;
        let out = m.exec(id, ExecRequest::shell("true")).await?;
        anyhow::ensure!(out.exit_code == 0, "first exec after resume failed");
        resume.push(started.elapsed().as_secs_f64());
    }
    let (resume_m, bare_m) = (median(&resume), median(&bare));
    Ok(vec![
        Row::new(
            "floors.resume_512mib_to_first_run",
            resume_m,
            "s",
            format!("{note}; cold-booted sandbox (balloon), resume + `true`"),
        ),
        Row::new(
            "floors.bare_incoming_plus_exec",
            bare_m,
            "s",
            "floor: bare QEMU -incoming of the same paused file + one envd call (net made before)",
        ),
        Row::new(
            "floors.resume_to_first_run.vs_floor",
            resume_m / bare_m,
            "x",
            "target ≤ 1.3",
        ),
        Row::new("floors.pause_512mib", median(&pause), "s", note.to_owned()),
        Row::new(
            "floors.pause_512mib.bytes_written",
            median(&bytes),
            "MiB",
            "memory stream written by the pause (zero pages compressed by QEMU)",
        ),
    ])
}

/// A bare `-incoming` of a paused sandbox's memory file on a prepared slot.
struct Floor<'a> {
    backend: QemuBackend,
    network: SandboxNetwork,
    slot: SlotLease,
    data: &'a DataDir,
    manager: &'a Manager,
}

impl Floor<'_> {
    /// Seconds from QEMU's spawn to the end of one `true` through envd.
    async fn incoming_and_exec(&self, sandbox: &Path, token: &str) -> anyhow::Result<f64> {
        let slot = self.slot.slot();
        let policy = EgressPolicy {
            internet: false,
            allow: Vec::new(),
            deny: Vec::new(),
        };
        let handle = self.network.create(slot, &policy).await?;
        let dir = self.data.root().join("sandboxes/bench-floor-incoming");
        let plan = self.manager.disk_plan();
        let result = async {
            std::fs::create_dir_all(dir.join("run"))?;
            let disk = plan.disk_in(&dir);
            let _ = std::fs::remove_file(&disk);
            // The paused disk stays untouched: the floor writes an overlay.
            plan.create(&plan.disk_in(sandbox), &disk, None).await?;
            let spec = VmSpec {
                run_dir: dir.join("run"),
                kernel: self.data.kernel(KernelFormat::BzImage)?,
                root_disk: disk,
                discard_writes: false,
                vcpus: 1,
                memory_mib: MEMORY_MIB,
                net: GuestNet::Tap(handle.tap.clone()),
                init: vec!["/usr/bin/envd".into()],
            };
            let url = format!("http://{}", handle.envd_addr);
            let mut exec = ExecRequest::shell("true");
            exec.access_token = Some(token.to_owned());
            let started = Instant::now();
            let mut vm = self
                .backend
                .restore(&spec, &sandbox.join("snapshot"))
                .await?;
            let http = reqwest::Client::new();
            let ready =
                envd_client::wait_ready(&http, &url, &mut vm, Duration::from_secs(120)).await;
            let out = match ready {
                Ok(()) => envd_client::exec(&url, &exec)
                    .await
                    .map_err(anyhow::Error::from),
                Err(err) => Err(anyhow::anyhow!("{err}")),
            };
            let elapsed = started.elapsed().as_secs_f64();
            let _ = vm.kill().await;
            anyhow::ensure!(out?.exit_code == 0, "floor exec failed");
            Ok(elapsed)
        }
        .await;
        self.network.destroy(slot).await?;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}
