//! PID 1 duties inside the VM: mount the kernel filesystems, start the envd
//! server as a child, reap every orphan, and shut down cleanly on SIGTERM or
//! SIGINT (sent by `POST /shutdown` or `kill -TERM 1` as root).
//!
//! The server runs as a separate process so that reaping here (`waitpid(-1)`)
//! never steals the exit status of a process the server is waiting on.
use std::{process::Command, thread, time::Duration};

use nix::{
    mount::{mount, umount2, MntFlags, MsFlags},
    sys::{
        reboot::{reboot, RebootMode},
        signal::{kill, SigSet, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::{sync, Pid},
};

/// Mount points created at boot: (source, target, fstype, flags, data).
const MOUNTS: &[(&str, &str, &str, MsFlags, &str)] = &[
    (
        "proc",
        "/proc",
        "proc",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        "",
    ),
    (
        "sysfs",
        "/sys",
        "sysfs",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        "",
    ),
    (
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MsFlags::MS_NOSUID,
        "mode=0755",
    ),
    (
        "devpts",
        "/dev/pts",
        "devpts",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        "gid=5,mode=620,ptmxmode=666",
    ),
    (
        "tmpfs",
        "/dev/shm",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=1777",
    ),
    (
        "cgroup2",
        "/sys/fs/cgroup",
        "cgroup2",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        "",
    ),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=0755",
    ),
    (
        "tmpfs",
        "/tmp",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        "mode=1777",
    ),
];

/// How long processes get between SIGTERM and SIGKILL at shutdown.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub fn run() -> ! {
    console("wrenn-init: starting");
    // Block the signals we handle synchronously; children unblock them again.
    let handled = handled_signals();
    if let Err(err) = handled.thread_block() {
        console(&format!("wrenn-init: cannot block signals: {err}"));
    }
    mount_all();
    if let Err(err) = std::fs::copy("/proc/net/pnp", "/etc/resolv.conf") {
        console(&format!(
            "wrenn-init: no DNS from the kernel ip= argument ({err})"
        ));
    }
    let _ = std::fs::remove_file("/run/nologin");
    let mut server = start_server();
    loop {
        match handled.wait() {
            Ok(Signal::SIGCHLD) => {
                if reap_all(server) {
                    console("wrenn-init: envd exited; restarting it");
                    thread::sleep(Duration::from_millis(200));
                    // A crash loop is visible on the console; keep serving.
                    server = start_server();
                }
            }
            Ok(Signal::SIGTERM | Signal::SIGINT) => shutdown(),
            Ok(_) | Err(_) => {}
        }
    }
}

/// The server child must not inherit the init's blocked signal mask, or the
/// processes it starts could not be stopped with SIGTERM.
pub fn unblock_signals_for_children() {
    let _ = handled_signals().thread_unblock();
}

fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set
}

fn mount_all() {
    for (source, target, fstype, flags, data) in MOUNTS {
        let _ = std::fs::create_dir_all(target);
        let data = (!data.is_empty()).then_some(*data);
        match mount(Some(*source), *target, Some(*fstype), *flags, data) {
            Ok(()) => {}
            // devtmpfs is already mounted by the kernel (DEVTMPFS_MOUNT).
            Err(nix::errno::Errno::EBUSY) => {}
            Err(err) => console(&format!("wrenn-init: mount {target} failed: {err}")),
        }
    }
}

fn start_server() -> Pid {
    // The resolved path (not /proc/self/exe) so `ps` shows `envd`.
    let binary = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    match Command::new(binary).arg("--serve").spawn() {
        Ok(child) => Pid::from_raw(child.id() as i32),
        Err(err) => {
            console(&format!(
                "wrenn-init: cannot start envd: {err}; powering off"
            ));
            shutdown()
        }
    }
}

/// Reaps every exited child; true when the server itself exited.
fn reap_all(server: Pid) -> bool {
    let mut server_exited = false;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return server_exited,
            Ok(status) => {
                if status.pid() == Some(server) {
                    server_exited = true;
                }
            }
        }
    }
}

fn shutdown() -> ! {
    console("wrenn-init: shutting down");
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    let deadline = std::time::Instant::now() + STOP_GRACE;
    while std::time::Instant::now() < deadline {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Err(nix::errno::Errno::ECHILD) => break,
            Ok(WaitStatus::StillAlive) => thread::sleep(Duration::from_millis(20)),
            _ => {}
        }
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    sync();
    for (_, target, ..) in MOUNTS.iter().rev() {
        let _ = umount2(*target, MntFlags::MNT_DETACH);
    }
    let _ = mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    );
    sync();
    console("wrenn-init: power off");
    // microVMs have no ACPI: a reset (kernel `reboot=t`/`reboot=k`) is what
    // QEMU (-no-reboot) and Firecracker turn into a clean VMM exit.
    let _ = reboot(RebootMode::RB_AUTOBOOT);
    loop {
        thread::sleep(Duration::from_secs(1));
    }
}

fn console(line: &str) {
    println!("{line}");
}
