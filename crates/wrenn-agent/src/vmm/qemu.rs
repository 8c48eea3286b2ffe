//! The QEMU backend: `qemu-system-x86_64 -M microvm,acpi=off` with virtio-mmio
//! devices, the serial console captured to `console.log`, and QMP on a Unix
//! socket for control.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::watch,
};

use super::{qmp::Qmp, Accel, GuestNet, VmSpec, USER_NET_GUEST_IP};

pub const QEMU_BINARY: &str = "qemu-system-x86_64";

#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("cannot create the VM directory {0}")]
    RunDir(PathBuf, #[source] std::io::Error),
    #[error("cannot start {QEMU_BINARY} (install qemu-system-x86)")]
    Spawn(#[source] std::io::Error),
    #[error("QEMU exited during boot ({status}); last console lines:\n{console_tail}")]
    ExitedEarly {
        status: String,
        console_tail: String,
    },
    #[error("timed out after {0:?} waiting for the guest; see the console log")]
    Timeout(Duration),
    #[error("waiting for QEMU to exit failed")]
    Wait(#[source] std::io::Error),
    #[error(transparent)]
    Qmp(#[from] super::qmp::QmpError),
}

/// A running QEMU process and what it printed on the serial console.
#[derive(Debug)]
pub struct QemuVm {
    child: Child,
    run_dir: PathBuf,
    console: watch::Receiver<Vec<String>>,
    started: Instant,
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
    if let GuestNet::UserForward { .. } = spec.net {
        // client:server:gateway:netmask:hostname:device:autoconf:dns
        args.push(format!(
            "ip={USER_NET_GUEST_IP}::10.0.2.2:255.255.255.0:wrenn:eth0:off:10.0.2.3"
        ));
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

fn qemu_args(spec: &VmSpec, accel: Accel, qmp_socket: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-M".into(),
        "microvm,acpi=off,x-option-roms=off,rtc=on".into(),
        "-accel".into(),
        accel.to_string(),
        "-cpu".into(),
        if accel == Accel::Kvm { "host" } else { "max" }.into(),
        "-smp".into(),
        spec.vcpus.to_string(),
        "-m".into(),
        format!("{}M", spec.memory_mib),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-nographic".into(),
        "-no-reboot".into(),
        "-serial".into(),
        "stdio".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp_socket.display()),
        "-kernel".into(),
        spec.kernel.display().to_string(),
        "-append".into(),
        kernel_cmdline(spec),
        "-drive".into(),
        format!(
            "id=root,file={},format={},if=none,cache=unsafe{}",
            spec.root_disk.display(),
            if spec.root_disk.extension().is_some_and(|e| e == "qcow2") {
                "qcow2"
            } else {
                "raw"
            },
            if spec.discard_writes {
                ",snapshot=on"
            } else {
                ""
            }
        ),
        "-device".into(),
        "virtio-blk-device,drive=root".into(),
        "-device".into(),
        "virtio-rng-device".into(),
    ];
    if let GuestNet::UserForward {
        host_port,
        guest_port,
    } = spec.net
    {
        args.extend([
            "-netdev".into(),
            format!("user,id=net0,hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}"),
            "-device".into(),
            "virtio-net-device,netdev=net0".into(),
        ]);
    }
    args
}

impl QemuVm {
    /// Starts QEMU. Returns as soon as the process runs; use
    /// [`QemuVm::wait_for_console`] or a health check to know the guest is up.
    pub async fn spawn(spec: &VmSpec, accel: Accel) -> Result<Self, QemuError> {
        std::fs::create_dir_all(&spec.run_dir)
            .map_err(|e| QemuError::RunDir(spec.run_dir.clone(), e))?;
        let qmp_socket = spec.run_dir.join("qmp.sock");
        let _ = std::fs::remove_file(&qmp_socket);
        let mut child = Command::new(QEMU_BINARY)
            .args(qemu_args(spec, accel, &qmp_socket))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(QemuError::Spawn)?;
        let started = Instant::now();
        let (tx, console) = watch::channel(Vec::new());
        let log_path = spec.run_dir.join("console.log");
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        tokio::spawn(async move {
            let Ok(mut log) = tokio::fs::File::create(&log_path).await else {
                return;
            };
            let mut lines = stdout.map(|s| BufReader::new(s).lines());
            let mut errs = stderr.map(|s| BufReader::new(s).lines());
            loop {
                let line = tokio::select! {
                    Some(Ok(Some(l))) = async { match lines.as_mut() { Some(r) => Some(r.next_line().await), None => None } } => l,
                    Some(Ok(Some(l))) = async { match errs.as_mut() { Some(r) => Some(r.next_line().await), None => None } } => format!("[qemu] {l}"),
                    else => break,
                };
                let _ = log.write_all(line.as_bytes()).await;
                let _ = log.write_all(b"\n").await;
                tx.send_modify(|all| all.push(line));
            }
        });
        Ok(Self {
            child,
            run_dir: spec.run_dir.clone(),
            console,
            started,
        })
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn started_at(&self) -> Instant {
        self.started
    }

    /// Waits until a console line contains `needle`; fails early if QEMU exits.
    pub async fn wait_for_console(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> Result<Duration, QemuError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut console = self.console.clone();
        loop {
            if console
                .borrow_and_update()
                .iter()
                .any(|l| l.contains(needle))
            {
                return Ok(self.started.elapsed());
            }
            if let Some(status) = self.child.try_wait().map_err(QemuError::Wait)? {
                return Err(self.exited_early(status));
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Err(QemuError::Timeout(timeout)),
                _ = console.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// Fails with the console tail if QEMU has already exited.
    pub fn check_running(&mut self) -> Result<(), QemuError> {
        match self.child.try_wait().map_err(QemuError::Wait)? {
            Some(status) => Err(self.exited_early(status)),
            None => Ok(()),
        }
    }

    fn exited_early(&self, status: std::process::ExitStatus) -> QemuError {
        QemuError::ExitedEarly {
            status: status.to_string(),
            console_tail: self.console_tail(20),
        }
    }

    pub fn console_tail(&self, n: usize) -> String {
        let lines = self.console.borrow();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits for QEMU to exit on its own (after a guest shutdown).
    pub async fn wait_exit(
        &mut self,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus, QemuError> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .map_err(|_| QemuError::Timeout(timeout))?
            .map_err(QemuError::Wait)
    }

    /// Stops the VM at once through QMP `quit`, killing the process if QMP
    /// does not answer. Used when the guest cannot shut itself down.
    pub async fn quit(&mut self) -> Result<(), QemuError> {
        let socket = self.run_dir.join("qmp.sock");
        let via_qmp = async {
            let mut qmp = Qmp::connect(&socket).await?;
            // QEMU may close the socket before answering `quit`.
            let _ = qmp.execute("quit", None).await;
            Ok::<_, QemuError>(())
        };
        if tokio::time::timeout(Duration::from_secs(5), via_qmp)
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
        }
        self.wait_exit(Duration::from_secs(10)).await.map(|_| ())
    }
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
        let args = qemu_args(&spec(), Accel::Tcg, Path::new("/tmp/q.sock")).join(" ");
        assert!(
            args.contains("hostfwd=tcp:127.0.0.1:40000-:49983"),
            "{args}"
        );
        assert!(args.contains("-accel tcg -cpu max"), "{args}");
        assert!(
            args.contains("format=raw") && args.contains("snapshot=on"),
            "{args}"
        );
    }
}
