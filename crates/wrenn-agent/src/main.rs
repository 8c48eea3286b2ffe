//! wrenn-agent command line: `serve` (the daemon with the RPC API for the
//! control plane, configured from `AGENT_*` variables), `doctor` (host
//! checks) and `boot` (a development boot probe).
mod cli;

use std::{io::Write, time::Duration};

use clap::{CommandFactory, Parser, Subcommand};
use wrenn_agent::{
    devboot::{DevBootOptions, DevVm},
    envd_client::{self, ExecRequest},
    paths::{DataDir, KernelFormat},
    vmm::{accel, AccelChoice},
};

#[derive(Debug, Parser)]
#[command(version, about = "Wrenn host agent")]
struct Cli {
    /// Accelerator: kvm, tcg or auto (auto refuses PVM-only KVM).
    #[arg(long, env = "AGENT_ACCEL", default_value = "auto", global = true)]
    accel: AccelChoice,
    /// `wrenn-agent --register <token> --address <ip:port>` = `wrenn-agent serve --register ...`.
    #[command(flatten)]
    register: cli::register::RegisterArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: the RPC API for the control plane (config from AGENT_* env vars).
    Serve(cli::register::RegisterArgs),
    /// Report what this host offers: accelerator, kernel, template images.
    Doctor,
    /// Boot a template, wait until envd answers, then shut it down cleanly.
    Boot {
        #[arg(long, default_value = "base")]
        template: String,
        #[arg(long, default_value_t = 1024)]
        memory_mib: u32,
        #[arg(long, default_value_t = 2)]
        vcpus: u8,
        /// Forward envd to this loopback port (0: any free port).
        #[arg(long, default_value_t = 0)]
        host_port: u16,
        /// Keep the VM until SIGINT/SIGTERM instead of shutting down at once.
        #[arg(long)]
        hold: bool,
        /// Run this shell command in the guest (via envd) and print its output.
        #[arg(long)]
        exec: Option<String>,
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
    let top_level_register = cli.register.register.is_some() || cli.register.address.is_some();
    let command = match cli.command {
        Some(_) if top_level_register => Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--register and --address go after `serve` (or without any subcommand)",
            )
            .exit(),
        Some(command) => command,
        None if cli.register.register.is_some() => Command::Serve(cli.register),
        None => Cli::command()
            .error(
                clap::error::ErrorKind::MissingSubcommand,
                "name a subcommand (serve, doctor, boot), or --register <token> --address <ip:port> to register and serve",
            )
            .exit(),
    };
    let data = DataDir::from_env();
    let decision = accel::decide(cli.accel, accel::HostKvm::probe());
    match command {
        Command::Serve(args) => {
            // Bad input and refusals exit 2, like clap's usage errors.
            let refused = |err: anyhow::Error| -> ! {
                eprintln!("error: {err:#}");
                std::process::exit(cli::register::EXIT_REFUSED)
            };
            let config = cli::config::ServeConfig::from_env()
                .unwrap_or_else(|e| refused(anyhow::Error::from(e)));
            if let Err(err) = cli::register::preflight(&config, &args) {
                refused(err.into());
            }
            match cli::serve::run(config, args).await {
                Ok(0) => Ok(()),
                Ok(status) => std::process::exit(status),
                Err(err) if err.is::<cli::register::StartRefused>() => refused(err),
                Err(err) => Err(err),
            }
        }
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
            println!("registered:  {}", cli::register::describe(&data));
            Ok(())
        }
        Command::Boot {
            template,
            memory_mib,
            vcpus,
            host_port,
            hold,
            exec,
        } => {
            tracing::info!(accel = %decision.accel, reason = %decision.reason, "accelerator chosen");
            let options = DevBootOptions {
                template,
                vcpus,
                memory_mib,
                host_port,
            };
            let mut vm = DevVm::spawn(&data, decision.accel, &options).await?;
            let ready = vm.wait_ready(Duration::from_secs(120)).await?;
            println!(
                "guest ready: envd at {} answered /health {:.2}s after QEMU started",
                vm.url(""),
                ready.as_secs_f64()
            );
            let mut exit_code = 0;
            if let Some(command) = exec {
                let output = envd_client::exec(&vm.url(""), &ExecRequest::shell(command)).await;
                match output {
                    Ok(output) => {
                        std::io::stdout().write_all(&output.stdout)?;
                        std::io::stderr().write_all(&output.stderr)?;
                        exit_code = output.exit_code;
                    }
                    Err(err) => {
                        eprintln!("exec failed: {err}");
                        exit_code = 1;
                    }
                }
            }
            if hold {
                cli::serve::wait_for_stop_signal().await?;
            }
            vm.shutdown(Duration::from_secs(30)).await?;
            println!("guest shut down cleanly");
            if exit_code != 0 {
                std::process::exit(exit_code);
            }
            Ok(())
        }
    }
}
