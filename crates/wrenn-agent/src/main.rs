//! wrenn-agent command line. The daemon (RPC API for the control plane)
//! arrives with the agent issue; today it offers host checks and a boot probe.
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wrenn_agent::{
    paths::{DataDir, KernelFormat},
    vmm::{accel, qemu::QemuVm, AccelChoice, GuestNet, VmSpec},
};

#[derive(Debug, Parser)]
#[command(version, about = "Wrenn host agent")]
struct Cli {
    /// Accelerator: kvm, tcg or auto (auto refuses PVM-only KVM).
    #[arg(long, env = "AGENT_ACCEL", default_value = "auto", global = true)]
    accel: AccelChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Report what this host offers: accelerator, kernel, template images.
    Doctor,
    /// Boot a template once, wait until envd answers, then shut it down cleanly.
    Boot {
        #[arg(long, default_value = "base")]
        template: String,
        #[arg(long, default_value_t = 1024)]
        memory_mib: u32,
        #[arg(long, default_value_t = 2)]
        vcpus: u8,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let data = DataDir::from_env();
    let decision = accel::decide(cli.accel, accel::HostKvm::probe());
    match cli.command {
        Command::Doctor => {
            println!("accelerator: {} ({})", decision.accel, decision.reason);
            println!("data dir:    {}", data.root().display());
            match data.kernel(KernelFormat::BzImage) {
                Ok(path) => println!("kernel:      {}", path.display()),
                Err(err) => println!("kernel:      MISSING: {err}"),
            }
            match data.template_image("base") {
                Ok(path) => println!("base image:  {}", path.display()),
                Err(err) => println!("base image:  MISSING: {err}"),
            }
            Ok(())
        }
        Command::Boot {
            template,
            memory_mib,
            vcpus,
        } => {
            tracing::info!(accel = %decision.accel, reason = %decision.reason, "accelerator chosen");
            let port = free_port()?;
            let spec = VmSpec {
                run_dir: data.run_dir(&format!("boot-{}", std::process::id())),
                kernel: data.kernel(KernelFormat::BzImage)?,
                root_disk: data.template_image(&template)?,
                discard_writes: true,
                vcpus,
                memory_mib,
                net: GuestNet::UserForward {
                    host_port: port,
                    guest_port: 49983,
                },
                init: vec!["/usr/bin/envd".into()],
            };
            let mut vm = QemuVm::spawn(&spec, decision.accel).await?;
            let ready = wait_for_health(&mut vm, port, Duration::from_secs(120)).await?;
            println!(
                "guest ready: envd answered /health {:.2}s after QEMU started",
                ready.as_secs_f64()
            );
            println!("{}", vm.console_tail(3));
            request_shutdown(port)
                .await
                .context("asking envd to shut down")?;
            let status = vm.wait_exit(Duration::from_secs(30)).await?;
            println!("guest shut down cleanly ({status})");
            let _ = std::fs::remove_dir_all(&spec.run_dir);
            Ok(())
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn envd_url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// Polls envd's `/health` through the forwarded port until it answers 204.
async fn wait_for_health(
    vm: &mut QemuVm,
    port: u16,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        vm.check_running()?;
        if let Ok(response) = client.get(envd_url(port, "/health")).send().await {
            if response.status() == reqwest::StatusCode::NO_CONTENT {
                return Ok(vm.started_at().elapsed());
            }
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "envd not ready after {timeout:?}; console:\n{}",
            vm.console_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn request_shutdown(port: u16) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(envd_url(port, "/shutdown"))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == reqwest::StatusCode::ACCEPTED,
        "envd answered {}",
        response.status()
    );
    Ok(())
}
