//! Drives a real Firecracker binary (`WRENN_FIRECRACKER_BIN`) through the
//! backend up to `InstanceStart`. Whether the guest then runs depends on the
//! host (PVM-backed KVM cannot run it); this test only checks the VMM side.
//! Without the variable, or without a built `vmlinux`, it says so and passes.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{path::PathBuf, time::Duration};

use wrenn_agent::{
    paths::{DataDir, KernelFormat},
    vmm::{firecracker::FirecrackerBackend, GuestNet, RunningVm, VmSpec},
};

const BIN_ENV: &str = "WRENN_FIRECRACKER_BIN";

fn prerequisites() -> Result<(PathBuf, PathBuf), String> {
    let binary = std::env::var_os(BIN_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{BIN_ENV} is not set"))?;
    if !binary.is_file() {
        return Err(format!("{BIN_ENV}={} is not a file", binary.display()));
    }
    let kernel = DataDir::from_env()
        .kernel(KernelFormat::Vmlinux)
        .map_err(|e| e.to_string())?;
    if !std::path::Path::new("/dev/kvm").exists() {
        return Err("no /dev/kvm".into());
    }
    Ok((binary, kernel))
}

#[tokio::test]
async fn real_firecracker_when_booted_then_accepts_config_up_to_instance_start() {
    let (binary, kernel) = match prerequisites() {
        Ok(found) => found,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = dir.path().join("rootfs.ext4");
    std::fs::File::create(&disk)
        .and_then(|f| f.set_len(16 * 1024 * 1024))
        .expect("disk");
    let spec = VmSpec {
        run_dir: dir.path().join("vm"),
        kernel,
        root_disk: disk,
        discard_writes: false,
        vcpus: 1,
        memory_mib: 128,
        net: GuestNet::None,
        init: vec!["/usr/bin/envd".into()],
    };
    let backend = FirecrackerBackend::new(binary);

    let booted = tokio::time::timeout(Duration::from_secs(30), backend.boot_vm(&spec))
        .await
        .expect("boot timed out");
    let mut vm = match booted {
        Ok(vm) => vm,
        Err(e) => panic!("Firecracker refused the boot sequence: {e:?}"),
    };

    assert!(vm.pid().is_some());
    eprintln!("console after InstanceStart:\n{}", vm.console_tail(20));
    tokio::time::timeout(Duration::from_secs(15), vm.kill())
        .await
        .expect("kill timed out")
        .expect("kill");
    assert!(
        vm.check_running().is_err(),
        "process still running after kill"
    );
}
