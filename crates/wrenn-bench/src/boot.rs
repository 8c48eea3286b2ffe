//! Suite `boot`: cold boot of the `base` template to envd ready, against a
//! bare QEMU run of the same kernel and image to the start of init.
use std::time::Duration;

use wrenn_agent::{
    devboot::{DevBootOptions, DevVm},
    paths::{DataDir, KernelFormat},
    vmm::{accel, qemu::QemuVm, AccelChoice, GuestNet, VmSpec},
};

use crate::{stats::median, Row};

const BARE_MARKER: &str = "WRENN-BARE-INIT";
const TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(runs: usize) -> anyhow::Result<Vec<Row>> {
    let data = DataDir::from_env();
    let decision = accel::decide(AccelChoice::Auto, accel::HostKvm::probe());
    let options = DevBootOptions::default();
    let (mut ready, mut bare) = (Vec::new(), Vec::new());
    // Interleave the two kinds so machine noise hits both alike.
    for _ in 0..runs {
        bare.push(
            bare_boot(&data, decision.accel, &options)
                .await?
                .as_secs_f64(),
        );
        let mut vm = DevVm::spawn(&data, decision.accel, &options).await?;
        ready.push(vm.wait_ready(TIMEOUT).await?.as_secs_f64());
        vm.shutdown(Duration::from_secs(30)).await?;
    }
    let note = format!(
        "median of {runs}, accel {}, {} vCPU, {} MiB",
        decision.accel, options.vcpus, options.memory_mib
    );
    let (ready_median, bare_median) = (median(&ready), median(&bare));
    Ok(vec![
        Row::new("boot.base_to_envd_ready", ready_median, "s", note.clone()),
        Row::new(
            "boot.bare_qemu_to_init",
            bare_median,
            "s",
            format!("{note}, init=/bin/echo"),
        ),
        Row::new(
            "boot.ready_vs_bare_ratio",
            ready_median / bare_median,
            "x",
            "wrenn boot-to-ready / bare boot-to-init",
        ),
    ])
}

/// The same kernel, image and QEMU flags, with `/bin/echo` as init: the time
/// until its line appears is the floor any init can reach.
async fn bare_boot(
    data: &DataDir,
    accel: accel::Accel,
    options: &DevBootOptions,
) -> anyhow::Result<Duration> {
    let spec = VmSpec {
        run_dir: data.run_dir(&format!("bench-bare-{}", std::process::id())),
        kernel: data.kernel(KernelFormat::BzImage)?,
        root_disk: data.template_image(&options.template)?,
        discard_writes: true,
        vcpus: options.vcpus,
        memory_mib: options.memory_mib,
        net: GuestNet::None,
        init: vec!["/bin/echo".into(), BARE_MARKER.into()],
    };
    let mut vm = QemuVm::spawn(&spec, accel).await?;
    let took = vm.wait_for_console(BARE_MARKER, TIMEOUT).await?;
    // echo exits, the kernel panics (init died) and panic=-1 resets: QEMU exits.
    if vm.wait_exit(Duration::from_secs(10)).await.is_err() {
        vm.quit().await?;
    }
    let _ = std::fs::remove_dir_all(&spec.run_dir);
    Ok(took)
}
