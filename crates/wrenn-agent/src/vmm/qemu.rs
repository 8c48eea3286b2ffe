//! The QEMU backend: `qemu-system-x86_64 -M microvm,acpi=off` with virtio-mmio
//! devices, the serial console written to `console.log`, and QMP on a Unix
//! socket for control. QEMU runs in its own process group with no pipes to
//! the agent, so VMs survive an agent restart and can be re-adopted.
//!
//! Confined (the default, [`Confinement`]), QEMU opens its devices and files
//! as root, then drops to the VM user (`-runas`) under its seccomp filter
//! (`-sandbox`), in a cgroup of its own. Memory snapshots therefore go
//! through a file descriptor the agent opens and hands over QMP (`fd:`
//! migration): QEMU may neither open the path nor spawn a `cat`.
//!
//! A template VM keeps its RAM in the snapshot's `guest-ram` file
//! (`memory-backend-file,share=on`), and its migration stream then leaves
//! that RAM out (`x-ignore-shared`). VMs restored from the template map the
//! same file with `share=off`: pages are read from the page cache, one copy
//! for all of them, and copied only when a guest writes one. The backend's
//! id is the machine's default RAM name (`microvm.ram`), so such a VM's own
//! pause (a full stream, its RAM is not shared) resumes into ordinary RAM.
//!
//! A VM on ordinary RAM (a cold boot) also has a virtio balloon with free
//! page reporting: the guest hands pages it freed back to QEMU, which drops
//! them, so host memory follows what the guest uses rather than the most it
//! ever touched. VMs on file-backed RAM have none: QEMU 7.2 discards a
//! reported page of a file mapping by punching a hole in the file, which for
//! a template clone is the template's shared `guest-ram`. A migration stream
//! must meet the devices it was saved from, so a snapshot of a VM with the
//! balloon carries a marker ([`SNAPSHOT_BALLOON_FILE`]) and restores with it.
use std::{
    os::fd::AsFd,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use nix::{sys::signal, unistd::Pid};
use serde_json::json;
use tokio::process::{Child, Command};

use super::{
    backend::{RunningVm, Vmm, VmmError, SNAPSHOT_GUEST_RAM_FILE, SNAPSHOT_MEMORY_FILE},
    cgroup::VmCgroup,
    confine::Confinement,
    qmp::Qmp,
    Accel, BackendKind, GuestNet, VmSpec, USER_NET_GUEST_IP,
};

pub const QEMU_BINARY: &str = "qemu-system-x86_64";
pub const CONSOLE_LOG: &str = "console.log";
pub const QMP_SOCKET: &str = "qmp.sock";
const QEMU_LOG: &str = "qemu.log";
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// The id of microvm's RAM; a memory backend of this id replaces it and
/// keeps migration streams compatible with VMs on ordinary RAM.
const RAM_ID: &str = "microvm.ram";
/// In a snapshot directory: the VM had the free-page-reporting balloon, so
/// its restore must have it too.
pub const SNAPSHOT_BALLOON_FILE: &str = "balloon";
/// The balloon device as QEMU's command line names it.
const BALLOON_DEVICE: &str = "virtio-balloon-device,free-page-reporting=on";
/// The QMP name of the memory snapshot's file descriptor.
const SNAPSHOT_FD: &str = "snapshot";
/// The `-drive` id of the root disk (its block backend's name in QMP).
const ROOT_DRIVE: &str = "root";
/// TCG's translation cache in MiB. QEMU's default (1 GiB) fills as the guest
/// starts processes (ASLR puts each one's code at new addresses, so it is
/// translated again) and is resident once written, so it outgrew the cgroup's
/// `guest + MEMORY_OVERHEAD_MIB` and QEMU was OOM-killed after ~120 commands.
/// A full cache is flushed and refilled in place, so this bounds it.
pub const TCG_TB_SIZE_MIB: u64 = 256;
/// What QEMU itself (heap, thread arenas, device state) keeps resident: ~170 MiB.
const QEMU_OWN_RSS_MIB: u64 = 192;
// A full cache and QEMU's own memory fit the cgroup's allowance beyond guest RAM.
const _: () = assert!(TCG_TB_SIZE_MIB + QEMU_OWN_RSS_MIB <= super::cgroup::MEMORY_OVERHEAD_MIB);

/// Kept for callers of the pre-trait API (dev boots, benches, tests).
pub type QemuError = VmmError;

/// The QEMU backend with its accelerator and how its processes are confined.
#[derive(Debug, Clone)]
pub struct QemuBackend {
    pub accel: Accel,
    pub confinement: Confinement,
}

impl QemuBackend {
    pub fn new(accel: Accel, confinement: Confinement) -> Self {
        Self { accel, confinement }
    }

    /// VMs as the agent's own user, without seccomp or cgroup (tests that
    /// need no confinement, development).
    pub fn unconfined(accel: Accel) -> Self {
        Self::new(accel, Confinement::Off)
    }
}

impl Vmm for QemuBackend {
    type Vm = QemuVm;

    fn kind(&self) -> BackendKind {
        BackendKind::Qemu
    }

    fn disk_format(&self) -> crate::disk::DiskFormat {
        crate::disk::DiskFormat::Qcow2
    }

    async fn boot(&self, spec: &VmSpec) -> Result<QemuVm, VmmError> {
        QemuVm::launch(
            spec,
            self.accel,
            &self.confinement,
            false,
            GuestRam::Anonymous,
            Balloon::On,
        )
        .await
    }

    async fn boot_template(&self, spec: &VmSpec, snapshot_dir: &Path) -> Result<QemuVm, VmmError> {
        let ram = GuestRam::Shared(snapshot_dir.join(SNAPSHOT_GUEST_RAM_FILE));
        QemuVm::launch(
            spec,
            self.accel,
            &self.confinement,
            false,
            ram,
            Balloon::Off,
        )
        .await
    }

    fn adopt(&self, run_dir: &Path, pid: u32) -> Option<QemuVm> {
        let mut vm = QemuVm::adopt(run_dir.to_owned(), pid);
        vm.cgroup = self.confinement.group_of(pid);
        Some(vm)
    }

    async fn restore(&self, spec: &VmSpec, snapshot_dir: &Path) -> Result<QemuVm, VmmError> {
        let memory = snapshot_dir.join(SNAPSHOT_MEMORY_FILE);
        if !memory.is_file() {
            return Err(VmmError::Restore(format!(
                "no memory snapshot at {}",
                memory.display()
            )));
        }
        let file = std::fs::File::open(&memory).map_err(|source| VmmError::Io {
            path: memory.display().to_string(),
            source,
        })?;
        let shared = snapshot_dir.join(SNAPSHOT_GUEST_RAM_FILE);
        let ram = if shared.is_file() {
            GuestRam::Private(shared)
        } else {
            GuestRam::Anonymous
        };
        let ignore_shared = ram != GuestRam::Anonymous;
        let balloon = Balloon::of_snapshot(snapshot_dir);
        let mut vm =
            QemuVm::launch(spec, self.accel, &self.confinement, true, ram, balloon).await?;
        let result = async {
            let mut qmp = vm.qmp().await?;
            if ignore_shared {
                set_ignore_shared(&mut qmp, true).await?;
            }
            qmp.send_fd(SNAPSHOT_FD, file.as_fd())
                .await
                .map_err(control)?;
            let uri = format!("fd:{SNAPSHOT_FD}");
            qmp.execute("migrate-incoming", Some(json!({ "uri": uri })))
                .await
                .map_err(control)?;
            wait_migration(&mut qmp, &mut vm)
                .await
                .map_err(|e| VmmError::Restore(e.to_string()))?;
            qmp.execute("cont", None).await.map_err(control)?;
            Ok(())
        }
        .await;
        if let Err(err) = result {
            if let Err(kill) = vm.kill().await {
                tracing::warn!(%kill, "stopping QEMU after a failed restore failed");
            }
            // QEMU's own words (a disk it could not open, ...) say more.
            return Err(match err {
                VmmError::Control(_) => {
                    VmmError::Restore(format!("{err}; QEMU said:\n{}", vm.console_tail(5)))
                }
                other => other,
            });
        }
        Ok(vm)
    }
}

/// Where a VM's RAM lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestRam {
    /// Ordinary anonymous memory.
    Anonymous,
    /// A template VM: RAM is this file (mapped shared), left out of its
    /// snapshot's migration stream.
    Shared(PathBuf),
    /// Restored from a template: RAM maps this file privately (copy-on-write).
    Private(PathBuf),
}

/// Whether a VM has the free-page-reporting balloon (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balloon {
    Off,
    On,
}

impl Balloon {
    /// What a snapshot in `dir` was saved with.
    fn of_snapshot(dir: &Path) -> Self {
        if dir.join(SNAPSHOT_BALLOON_FILE).is_file() {
            Self::On
        } else {
            Self::Off
        }
    }

    /// What a running QEMU was started with, read from its command line.
    fn of_process(pid: u32) -> Self {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let has = cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == BALLOON_DEVICE.as_bytes());
        if has {
            Self::On
        } else {
            Self::Off
        }
    }
}

/// A running QEMU process: either our child or one adopted after a restart.
#[derive(Debug)]
pub struct QemuVm {
    process: Process,
    /// `Shared` for a template VM, whose snapshot leaves RAM out.
    ram: GuestRam,
    balloon: Balloon,
    run_dir: PathBuf,
    started: Instant,
    /// The VM's own cgroup while confined; removed when the process ends.
    cgroup: Option<VmCgroup>,
}

#[derive(Debug)]
enum Process {
    Child(Child),
    Adopted(u32),
}

/// On: RAM mapped shared from a file is left out of the migration stream
/// (on the source) and expected so (on the destination). Both ends must
/// agree, so a VM restored that way turns it off before its own pause.
async fn set_ignore_shared(qmp: &mut Qmp, on: bool) -> Result<(), VmmError> {
    let caps = json!({ "capabilities": [{ "capability": "x-ignore-shared", "state": on }] });
    qmp.execute("migrate-set-capabilities", Some(caps))
        .await
        .map(|_| ())
        .map_err(control)
}

/// Kernel command line shared by every boot. `reboot=t` + QEMU `-no-reboot`
/// turn a guest reset into a clean VMM exit (microvm has no ACPI power-off);
/// `panic=-1` does the same on a guest panic.
fn kernel_cmdline(spec: &VmSpec) -> String {
    let mut args = vec![
        "console=ttyS0".to_owned(),
        "reboot=t".into(),
        "panic=-1".into(),
        "quiet".into(),
        "root=/dev/vda".into(),
        // Writable even with `discard_writes`: QEMU's snapshot=on keeps the
        // image itself untouched.
        "rw".into(),
    ];
    match &spec.net {
        GuestNet::None => {}
        // client:server:gateway:netmask:hostname:device:autoconf:dns
        GuestNet::UserForward { .. } => args.push(format!(
            "ip={USER_NET_GUEST_IP}::10.0.2.2:255.255.255.0:wrenn:eth0:off:10.0.2.3"
        )),
        GuestNet::Tap(tap) => args.push(tap.kernel_ip_arg()),
    }
    if let Some((program, rest)) = spec.init.split_first() {
        args.push(format!("init={program}"));
        // Not after `--`: QEMU appends the virtio-mmio device list to the end
        // of the command line, and everything after `--` goes to init only.
        // The kernel hands init every word without '=' or '.' it does not know.
        args.extend(rest.iter().cloned());
    }
    args.join(" ")
}

/// `-accel` with TCG's translation cache bounded (see [`TCG_TB_SIZE_MIB`]).
fn accel_arg(accel: Accel) -> String {
    match accel {
        Accel::Kvm => accel.to_string(),
        Accel::Tcg => format!("{accel},tb-size={TCG_TB_SIZE_MIB}"),
    }
}

fn qemu_args(
    spec: &VmSpec,
    accel: Accel,
    confinement: &Confinement,
    incoming: bool,
    ram: &GuestRam,
    balloon: Balloon,
) -> Vec<String> {
    let run = |file: &str| spec.run_dir.join(file).display().to_string();
    let file_ram = match ram {
        GuestRam::Anonymous => None,
        GuestRam::Shared(path) => Some((path, "on")),
        GuestRam::Private(path) => Some((path, "off")),
    };
    let machine = match file_ram {
        None => "microvm,acpi=off,x-option-roms=off,rtc=on".to_owned(),
        Some(_) => format!("microvm,acpi=off,x-option-roms=off,rtc=on,memory-backend={RAM_ID}"),
    };
    let mut args: Vec<String> = vec![
        "-M".into(),
        machine,
        "-accel".into(),
        accel_arg(accel),
        "-cpu".into(),
        if accel == Accel::Kvm { "host" } else { "max" }.into(),
        "-smp".into(),
        spec.vcpus.to_string(),
        "-m".into(),
        format!("{}M", spec.memory_mib),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-no-reboot".into(),
        "-chardev".into(),
        format!("file,id=console,path={}", run(CONSOLE_LOG)),
        "-serial".into(),
        "chardev:console".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", run(QMP_SOCKET)),
        "-kernel".into(),
        spec.kernel.display().to_string(),
        "-append".into(),
        kernel_cmdline(spec),
        "-drive".into(),
        format!(
            "id={ROOT_DRIVE},file={},format={},if=none,{}",
            spec.root_disk.display(),
            if spec.root_disk.extension().is_some_and(|e| e == "qcow2") {
                "qcow2"
            } else {
                "raw"
            },
            if spec.discard_writes {
                "cache=unsafe,snapshot=on"
            } else {
                // Read-write from the start: an incoming migration otherwise
                // opens the file read-only and reopens it by path once the
                // VM runs, after QEMU has dropped to the VM user.
                "cache=writeback,auto-read-only=off"
            }
        ),
        "-device".into(),
        format!("virtio-blk-device,drive={ROOT_DRIVE}"),
        "-device".into(),
        "virtio-rng-device".into(),
    ];
    match &spec.net {
        GuestNet::None => {}
        GuestNet::UserForward {
            host_port,
            guest_port,
        } => args.extend([
            "-netdev".into(),
            format!("user,id=net0,hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}"),
            "-device".into(),
            "virtio-net-device,netdev=net0".into(),
        ]),
        GuestNet::Tap(tap) => args.extend([
            "-netdev".into(),
            format!("tap,id=net0,ifname={},script=no,downscript=no", tap.tap),
            "-device".into(),
            format!("virtio-net-device,netdev=net0,mac={}", tap.guest_mac),
        ]),
    }
    if balloon == Balloon::On {
        args.extend(["-device".into(), BALLOON_DEVICE.into()]);
    }
    if let Some((path, share)) = file_ram {
        // Opened by QEMU as root, before it drops to the VM user.
        args.extend([
            "-object".into(),
            format!(
                "memory-backend-file,id={RAM_ID},size={}M,mem-path={},share={share}",
                spec.memory_mib,
                path.display()
            ),
        ]);
    }
    args.extend(confinement.qemu_args());
    if incoming {
        args.extend(["-incoming".into(), "defer".into()]);
    }
    args
}

impl QemuVm {
    /// Starts QEMU and returns as soon as the process runs; use
    /// [`QemuVm::wait_for_console`] or a health check to know the guest is up.
    /// Unconfined: dev boots and benches of the bare VMM.
    pub async fn spawn(spec: &VmSpec, accel: Accel) -> Result<Self, VmmError> {
        let ram = GuestRam::Anonymous;
        Self::launch(spec, accel, &Confinement::Off, false, ram, Balloon::On).await
    }

    async fn launch(
        spec: &VmSpec,
        accel: Accel,
        confinement: &Confinement,
        incoming: bool,
        ram: GuestRam,
        balloon: Balloon,
    ) -> Result<Self, VmmError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| VmmError::Io { path, source }
        };
        std::fs::create_dir_all(&spec.run_dir).map_err(io(&spec.run_dir))?;
        for stale in [CONSOLE_LOG, QMP_SOCKET] {
            let path = spec.run_dir.join(stale);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                _ => {}
            }
        }
        let log_path = spec.run_dir.join(QEMU_LOG);
        let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
        let mut command = match &spec.net {
            // QEMU must live in the sandbox's namespace to open its TAP.
            GuestNet::Tap(tap) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &tap.netns, QEMU_BINARY]);
                c
            }
            _ => Command::new(QEMU_BINARY),
        };
        let child = command
            .args(qemu_args(spec, accel, confinement, incoming, &ram, balloon))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io(&log_path))?)
            .stderr(log)
            // Own process group: signals for the agent (Ctrl-C, restarts)
            // never reach the VMs.
            .process_group(0)
            .spawn()
            .map_err(|source| VmmError::Spawn {
                binary: QEMU_BINARY.into(),
                source,
            })?;
        let mut vm = Self {
            process: Process::Child(child),
            ram,
            balloon,
            run_dir: spec.run_dir.clone(),
            started: Instant::now(),
            cgroup: None,
        };
        // QEMU is moved into its group right after the fork, before it has
        // allocated guest memory or started vCPU threads (all threads move
        // with it).
        if let Some(pid) = vm.pid() {
            match confinement.confine(pid, spec.vcpus, spec.memory_mib) {
                Ok(group) => vm.cgroup = group,
                Err(err) => {
                    let _ = vm.kill().await;
                    return Err(VmmError::Confine(err.to_string()));
                }
            }
        }
        Ok(vm)
    }

    /// The VM's cgroup while it is confined.
    pub fn cgroup(&self) -> Option<&VmCgroup> {
        self.cgroup.as_ref()
    }

    /// Removes the cgroup once the process is gone.
    fn release_cgroup(&mut self) {
        if let Some(group) = self.cgroup.take() {
            group.remove();
        }
    }

    /// Takes over a QEMU left running by a previous agent process.
    pub fn adopt(run_dir: PathBuf, pid: u32) -> Self {
        Self {
            process: Process::Adopted(pid),
            ram: GuestRam::Anonymous,
            balloon: Balloon::of_process(pid),
            run_dir,
            started: Instant::now(),
            cgroup: None,
        }
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn started_at(&self) -> Instant {
        self.started
    }

    async fn qmp(&self) -> Result<Qmp, VmmError> {
        let socket = self.run_dir.join(QMP_SOCKET);
        let deadline = Instant::now() + CONTROL_TIMEOUT;
        loop {
            match Qmp::connect(&socket).await {
                Ok(qmp) => return Ok(qmp),
                Err(_) if Instant::now() < deadline && self.alive() => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(err) => return Err(control(err)),
            }
        }
    }

    fn alive(&self) -> bool {
        match &self.process {
            Process::Child(child) => child.id().is_some(),
            Process::Adopted(pid) => pid_alive(*pid),
        }
    }

    /// Waits until a console line contains `needle`; fails early if QEMU exits.
    pub async fn wait_for_console(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> Result<Duration, VmmError> {
        let deadline = Instant::now() + timeout;
        let path = self.run_dir.join(CONSOLE_LOG);
        loop {
            let text = std::fs::read(&path).unwrap_or_default();
            if String::from_utf8_lossy(&text).contains(needle) {
                return Ok(self.started.elapsed());
            }
            self.check_running()?;
            if Instant::now() >= deadline {
                return Err(VmmError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for QEMU to exit on its own (after a guest shutdown).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<(), VmmError> {
        let deadline = Instant::now() + timeout;
        while self.check_running().is_ok() {
            if Instant::now() >= deadline {
                return Err(VmmError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Stops the VM through QMP `quit`, killing the process if QMP does not
    /// answer in time.
    pub async fn quit(&mut self) -> Result<(), VmmError> {
        let via_qmp = async {
            let mut qmp = self.qmp().await?;
            // QEMU may close the socket before answering `quit`.
            let _ = qmp.execute("quit", None).await;
            Ok::<_, VmmError>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), via_qmp).await;
        if self.wait_exit(Duration::from_secs(5)).await.is_err() {
            self.kill().await?;
        }
        self.release_cgroup();
        Ok(())
    }

    /// Writes the (stopped) VM's migration stream into
    /// `snapshot_dir/memory`; a failed write leaves no file behind.
    async fn migrate_to_file(
        &mut self,
        qmp: &mut Qmp,
        snapshot_dir: &Path,
    ) -> Result<(), VmmError> {
        std::fs::create_dir_all(snapshot_dir).map_err(|source| VmmError::Io {
            path: snapshot_dir.display().to_string(),
            source,
        })?;
        let memory = snapshot_dir.join(SNAPSHOT_MEMORY_FILE);
        // Created by the agent (root-only, under its umask) and handed to
        // QEMU, which may no longer open paths itself.
        let file = std::fs::File::create(&memory).map_err(|source| VmmError::Io {
            path: memory.display().to_string(),
            source,
        })?;
        let uri = format!("fd:{SNAPSHOT_FD}");
        qmp.send_fd(SNAPSHOT_FD, file.as_fd())
            .await
            .map_err(control)?;
        drop(file);
        // QEMU 7.2 caps migration at 32 MiB/s by default; a local file needs no cap.
        let unlimited = json!({ "max-bandwidth": 1_u64 << 40 });
        let migrated = async {
            // A template's RAM is in its own file already; every other VM
            // (one restored from a template has the capability on) writes
            // all of it.
            set_ignore_shared(qmp, matches!(self.ram, GuestRam::Shared(_))).await?;
            qmp.execute("migrate-set-parameters", Some(unlimited))
                .await
                .map_err(control)?;
            qmp.execute("migrate", Some(json!({ "uri": uri })))
                .await
                .map_err(control)?;
            wait_migration(qmp, self)
                .await
                .map_err(|err| VmmError::Snapshot(err.to_string()))
        }
        .await;
        let migrated = migrated.and_then(|()| self.mark_balloon(snapshot_dir));
        if migrated.is_err() {
            if let Err(e) = std::fs::remove_file(&memory) {
                tracing::warn!(path = %memory.display(), %e, "removing a partial memory image failed");
            }
        }
        migrated
    }

    /// Says in `snapshot_dir` whether the stream there needs the balloon.
    fn mark_balloon(&self, snapshot_dir: &Path) -> Result<(), VmmError> {
        let marker = snapshot_dir.join(SNAPSHOT_BALLOON_FILE);
        let written = match self.balloon {
            Balloon::On => std::fs::write(&marker, b""),
            Balloon::Off => match std::fs::remove_file(&marker) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        written.map_err(|source| VmmError::Io {
            path: marker.display().to_string(),
            source,
        })
    }

    fn exited(&self, status: String) -> VmmError {
        VmmError::Exited {
            status,
            console_tail: self.console_tail(20),
        }
    }
}

impl RunningVm for QemuVm {
    fn pid(&self) -> Option<u32> {
        match &self.process {
            Process::Child(child) => child.id(),
            Process::Adopted(pid) => Some(*pid),
        }
    }

    async fn pause_to(&mut self, snapshot_dir: &Path) -> Result<(), VmmError> {
        let mut qmp = self.qmp().await?;
        qmp.execute("stop", None).await.map_err(control)?;
        if let Err(err) = self.migrate_to_file(&mut qmp, snapshot_dir).await {
            // Leave the VM running rather than half-paused.
            if let Err(e) = qmp.execute("cont", None).await {
                tracing::error!(%e, "the VM stays stopped after a failed snapshot");
            }
            return Err(err);
        }
        // QEMU may close the socket before answering `quit`; its exit is
        // what counts.
        let _ = qmp.execute("quit", None).await;
        self.wait_exit(CONTROL_TIMEOUT).await?;
        self.release_cgroup();
        Ok(())
    }

    async fn switch_disk(&mut self, overlay: &Path) -> Result<(), VmmError> {
        // Opened by the agent and handed over as an fd set: a confined QEMU
        // may not open paths under the agent's data directory itself.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(overlay)
            .map_err(|source| VmmError::Io {
                path: overlay.display().to_string(),
                source,
            })?;
        let mut qmp = self.qmp().await?;
        let set = qmp.add_fd(file.as_fd()).await.map_err(control)?;
        drop(file);
        // `existing`: QEMU opens the overlay without its backing chain and
        // puts the running disk under it; the header's backing path is
        // what later starts of the VM (and its copies) open.
        let snapshot = json!({
            "device": ROOT_DRIVE,
            "snapshot-file": format!("/dev/fdset/{set}"),
            "format": "qcow2",
            "mode": "existing",
        });
        qmp.execute("blockdev-snapshot-sync", Some(snapshot))
            .await
            .map_err(|e| VmmError::Snapshot(format!("switching the disk: {e}")))?;
        Ok(())
    }

    async fn save_memory(&mut self, snapshot_dir: &Path) -> Result<(), VmmError> {
        let mut qmp = self.qmp().await?;
        self.migrate_to_file(&mut qmp, snapshot_dir).await
    }

    async fn freeze(&mut self) -> Result<(), VmmError> {
        // `stop` drains and flushes every block device before it returns.
        let mut qmp = self.qmp().await?;
        qmp.execute("stop", None).await.map_err(control)?;
        Ok(())
    }

    async fn thaw(&mut self) -> Result<(), VmmError> {
        let mut qmp = self.qmp().await?;
        qmp.execute("cont", None).await.map_err(control)?;
        Ok(())
    }

    async fn kill(&mut self) -> Result<(), VmmError> {
        match &mut self.process {
            Process::Child(child) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            Process::Adopted(pid) => {
                let _ = signal::kill(Pid::from_raw(*pid as i32), signal::SIGKILL);
                let pid = *pid;
                let deadline = Instant::now() + Duration::from_secs(5);
                while pid_alive(pid) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        self.release_cgroup();
        Ok(())
    }

    fn check_running(&mut self) -> Result<(), VmmError> {
        let exited = match &mut self.process {
            Process::Child(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(err) => Some(err.to_string()),
            },
            Process::Adopted(pid) => (!pid_alive(*pid)).then(|| "exited".to_owned()),
        };
        match exited {
            Some(status) => Err(self.exited(status)),
            None => Ok(()),
        }
    }

    fn console_tail(&self, n: usize) -> String {
        let mut text = String::from_utf8_lossy(
            &std::fs::read(self.run_dir.join(CONSOLE_LOG)).unwrap_or_default(),
        )
        .into_owned();
        if let Ok(log) = std::fs::read(self.run_dir.join(QEMU_LOG)) {
            for line in String::from_utf8_lossy(&log).lines() {
                text.push_str(&format!("\n[qemu] {line}"));
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// True while `pid` exists and is not a zombie.
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `query-migrate` until the migration completes or fails.
async fn wait_migration(qmp: &mut Qmp, vm: &mut QemuVm) -> Result<(), VmmError> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let info = qmp.execute("query-migrate", None).await.map_err(control)?;
        match info.get("status").and_then(|s| s.as_str()).unwrap_or("") {
            "completed" => return Ok(()),
            "failed" | "cancelled" => {
                let why = info
                    .get("error-desc")
                    .and_then(|s| s.as_str())
                    .unwrap_or("no reason given");
                return Err(VmmError::Snapshot(format!("migration failed: {why}")));
            }
            _ => {}
        }
        vm.check_running()?;
        if Instant::now() >= deadline {
            return Err(VmmError::Timeout(Duration::from_secs(120)));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn control(err: impl std::error::Error + Send + Sync + 'static) -> VmmError {
    VmmError::Control(Box::new(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VmSpec {
        VmSpec {
            run_dir: "/tmp/vm".into(),
            kernel: "/k/bzImage".into(),
            root_disk: "/i/rootfs.ext4".into(),
            discard_writes: true,
            vcpus: 2,
            memory_mib: 512,
            net: GuestNet::UserForward {
                host_port: 40000,
                guest_port: 49983,
            },
            init: vec!["/bin/echo".into(), "READY".into()],
        }
    }

    #[test]
    fn cmdline_when_init_has_args_then_passed_as_plain_words() {
        let line = kernel_cmdline(&spec());
        assert!(line.ends_with("init=/bin/echo READY"), "{line}");
        assert!(line.contains("reboot=t") && line.contains(" rw "), "{line}");
    }

    #[test]
    fn args_when_user_forward_then_hostfwd_to_guest_port() {
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            false,
            &GuestRam::Anonymous,
            Balloon::Off,
        )
        .join(" ");
        assert!(
            args.contains("hostfwd=tcp:127.0.0.1:40000-:49983"),
            "{args}"
        );
        assert!(
            args.contains(&format!("-accel tcg,tb-size={TCG_TB_SIZE_MIB} -cpu max")),
            "{args}"
        );
        assert!(
            args.contains("format=raw") && args.contains("snapshot=on"),
            "{args}"
        );
        assert!(!args.contains("-incoming"), "{args}");
    }

    #[test]
    fn args_when_kvm_then_no_translation_cache_option() {
        let args = qemu_args(
            &spec(),
            Accel::Kvm,
            &Confinement::Off,
            false,
            &GuestRam::Anonymous,
            Balloon::Off,
        )
        .join(" ");
        assert!(args.contains("-accel kvm -cpu host"), "{args}");
    }

    #[test]
    fn args_when_incoming_then_deferred() {
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            true,
            &GuestRam::Anonymous,
            Balloon::Off,
        )
        .join(" ");
        assert!(args.ends_with("-incoming defer"), "{args}");
    }

    #[test]
    fn args_when_template_then_ram_is_the_file_mapped_shared() {
        let ram = GuestRam::Shared("/s/t/guest-ram".into());
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            false,
            &ram,
            Balloon::Off,
        )
        .join(" ");
        assert!(args.contains("memory-backend=microvm.ram"), "{args}");
        assert!(
            args.contains(
                "-object memory-backend-file,id=microvm.ram,size=512M,mem-path=/s/t/guest-ram,share=on"
            ),
            "{args}"
        );
    }

    #[test]
    fn args_when_restored_from_template_then_file_mapped_private() {
        let ram = GuestRam::Private("/s/t/guest-ram".into());
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            true,
            &ram,
            Balloon::Off,
        )
        .join(" ");
        assert!(args.contains("mem-path=/s/t/guest-ram,share=off"), "{args}");
        assert!(args.ends_with("-incoming defer"), "{args}");
    }

    #[test]
    fn args_when_anonymous_then_no_memory_backend() {
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            true,
            &GuestRam::Anonymous,
            Balloon::Off,
        )
        .join(" ");
        assert!(!args.contains("memory-backend"), "{args}");
    }

    #[test]
    fn args_when_balloon_then_free_page_reporting_device() {
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            false,
            &GuestRam::Anonymous,
            Balloon::On,
        )
        .join(" ");
        assert!(
            args.contains("-device virtio-balloon-device,free-page-reporting=on"),
            "{args}"
        );
    }

    #[test]
    fn args_when_no_balloon_then_no_balloon_device() {
        let ram = GuestRam::Private("/s/t/guest-ram".into());
        let args = qemu_args(
            &spec(),
            Accel::Tcg,
            &Confinement::Off,
            true,
            &ram,
            Balloon::Off,
        )
        .join(" ");
        assert!(!args.contains("balloon"), "{args}");
    }

    #[test]
    fn balloon_of_snapshot_when_marker_then_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(Balloon::of_snapshot(dir.path()), Balloon::Off);
        std::fs::write(dir.path().join(SNAPSHOT_BALLOON_FILE), b"").expect("marker");
        assert_eq!(Balloon::of_snapshot(dir.path()), Balloon::On);
    }

    #[test]
    fn mark_balloon_when_saved_then_marker_follows_the_vm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut vm = QemuVm::adopt(dir.path().join("run"), std::process::id());
        assert_eq!(vm.balloon, Balloon::Off, "this test process has no balloon");
        vm.balloon = Balloon::On;
        vm.mark_balloon(dir.path()).expect("marked");
        assert_eq!(Balloon::of_snapshot(dir.path()), Balloon::On);
        // A later save of a VM without one (the same directory) clears it.
        vm.balloon = Balloon::Off;
        vm.mark_balloon(dir.path()).expect("cleared");
        assert_eq!(Balloon::of_snapshot(dir.path()), Balloon::Off);
        vm.mark_balloon(dir.path()).expect("nothing to clear");
    }
}
