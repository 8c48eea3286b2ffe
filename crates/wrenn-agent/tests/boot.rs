//! Boots the real `base` image under QEMU (TCG here, KVM where usable), waits
//! for envd, and shuts the guest down cleanly. Needs the kernel and image
//! built (`deploy/setup-host.sh`); run with `cargo test -p wrenn-agent --test
//! boot -- --ignored` (tests/run-all.sh does).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::time::Duration;

use wrenn_agent::{
    devboot::{DevBootOptions, DevVm},
    paths::DataDir,
    vmm::accel::{self, AccelChoice, HostKvm},
};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
#[ignore = "boots a VM: needs the kernel and base image; run with --ignored"]
async fn base_when_booted_then_envd_ready_and_shutdown_is_clean() {
    let data = DataDir::from_env();
    let decision = accel::decide(AccelChoice::Auto, HostKvm::probe());
    let mut vm = DevVm::spawn(&data, decision.accel, &DevBootOptions::default())
        .await
        .expect("QEMU starts");
    let run_dir = vm.vm.run_dir().to_owned();

    let ready = vm
        .wait_ready(BOOT_TIMEOUT)
        .await
        .expect("envd answers /health");
    vm.vm
        .wait_for_console("wrenn-envd: ready", Duration::from_secs(5))
        .await
        .expect("the ready line is on the serial console");
    vm.shutdown(Duration::from_secs(30))
        .await
        .expect("guest powers off by itself");

    assert!(ready < BOOT_TIMEOUT);
    assert!(
        !run_dir.exists(),
        "the VM directory is removed after shutdown"
    );
}

#[tokio::test]
#[ignore = "boots a VM: needs the kernel and base image; run with --ignored"]
async fn missing_template_when_booted_then_error_names_the_build_command() {
    let data = DataDir::from_env();
    let options = DevBootOptions {
        template: "no-such-template".into(),
        ..Default::default()
    };
    let err = DevVm::spawn(&data, accel::Accel::Tcg, &options)
        .await
        .expect_err("no image");
    assert!(
        err.to_string()
            .contains("images/rootfs/build.sh no-such-template"),
        "{err}"
    );
}
