//! Pause to disk and resume with the QEMU backend on the real `base` image:
//! files and a background process survive. Run with `--ignored` (boots VMs).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{path::Path, process::Command, time::Duration};

use wrenn_agent::{
    envd_client::{self, ExecRequest},
    paths::{DataDir, KernelFormat},
    vmm::{accel, qemu::QemuBackend, Confinement, GuestNet, RunningVm, VmSpec, Vmm},
};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

async fn wait_health(port: u16) {
    let url = format!("http://127.0.0.1:{port}/health");
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    while std::time::Instant::now() < deadline {
        if reqwest::get(&url)
            .await
            .is_ok_and(|r| r.status().as_u16() == 204)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("envd not healthy on port {port}");
}

async fn sh(port: u16, command: &str) -> String {
    let output = envd_client::exec(
        &format!("http://127.0.0.1:{port}"),
        &ExecRequest::shell(command),
    )
    .await
    .expect("exec succeeds");
    assert_eq!(
        output.exit_code,
        0,
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn overlay(template: &Path, dest: &Path) {
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(template)
        .arg(dest)
        .status()
        .expect("qemu-img runs");
    assert!(status.success());
}

#[tokio::test]
#[ignore = "boots a VM: needs the kernel and base image; run with --ignored"]
async fn paused_vm_when_resumed_then_files_and_processes_survive() {
    let data = DataDir::from_env();
    // Confined as in production: the memory image goes through a file
    // descriptor, since QEMU runs as the VM user under seccomp.
    let backend = QemuBackend::new(
        accel::decide(Default::default(), accel::HostKvm::probe()).accel,
        Confinement::default_on().expect("VM confinement (deploy/setup-host.sh creates wrenn-vm)"),
    );
    let dir = tempfile::tempdir_in(data.root().join("sandboxes")).expect("temp dir");
    let disk = dir.path().join("disk.qcow2");
    overlay(&data.template_image("base").expect("base image"), &disk);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let spec = VmSpec {
        run_dir: dir.path().join("run"),
        kernel: data.kernel(KernelFormat::BzImage).expect("kernel"),
        root_disk: disk,
        discard_writes: false,
        vcpus: 1,
        memory_mib: 512,
        net: GuestNet::UserForward {
            host_port: port,
            guest_port: 49983,
        },
        init: vec!["/usr/bin/envd".into()],
    };
    let mut vm = backend.boot(&spec).await.expect("boots");
    wait_health(port).await;
    sh(
        port,
        "echo kept > /home/user/note && (nohup sleep 600 >/dev/null 2>&1 &) && sync",
    )
    .await;
    let sleeper = sh(port, "pgrep -x sleep").await;

    let snapshot = dir.path().join("snapshot");
    let started = std::time::Instant::now();
    vm.pause_to(&snapshot).await.expect("pauses");
    let pause_took = started.elapsed();
    assert!(vm.check_running().is_err(), "QEMU is gone after pause");

    let started = std::time::Instant::now();
    let mut resumed = backend.restore(&spec, &snapshot).await.expect("restores");
    wait_health(port).await;
    let resume_took = started.elapsed();

    assert_eq!(sh(port, "cat /home/user/note").await, "kept\n");
    assert_eq!(
        sh(port, "pgrep -x sleep").await,
        sleeper,
        "the same background process"
    );
    eprintln!("pause {pause_took:?}, resume to healthy {resume_took:?}");
    resumed.kill().await.expect("killed");
}
