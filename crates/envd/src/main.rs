//! envd entry point. As PID 1 in a VM it becomes the guest init (mounts,
//! reaping, clean shutdown) and runs the server as its child; anywhere else
//! (a developer host, tests) it runs the server directly.
use clap::Parser;

use envd::{init, server, state::ENVD_VERSION};

/// Keeps freed large blocks for reuse (see the module for why).
#[global_allocator]
static ALLOC: envd::alloc::Recycling = envd::alloc::Recycling::new();

/// Wrenn guest agent.
#[derive(Debug, Parser)]
#[command(version = ENVD_VERSION, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "ENVD_LISTEN_ADDR", default_value = "0.0.0.0:49983")]
    listen: std::net::SocketAddr,
    /// Run only the server, even as PID 1 (skips mounts, reaping, shutdown).
    #[arg(long)]
    no_init: bool,
    /// Internal: run as the server child of the init.
    #[arg(long, hide = true)]
    serve: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::process::id() == 1 && !args.no_init && !args.serve {
        // Never returns: the init's only exit is power-off or reboot.
        init::run();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ENVD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if args.serve {
        init::unblock_signals_for_children();
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(server::serve(args.listen, args.serve))
}
