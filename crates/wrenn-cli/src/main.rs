//! `wrenn`: the command line over wrenn-cp's REST API (see docs/api.md).
//! Parses the command line, runs the command on a Tokio runtime, and turns
//! the outcome into an exit status: the command's own for `exec`/`shell`,
//! 1 for API errors, 2 for usage errors, 3 when the server cannot be reached.

mod build_context;
mod build_logs;
mod cli;
mod client;
mod commands;
mod config;
mod dockerignore;
mod exec_ws;
mod pty;
mod render;
mod responses;
mod values;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{}", render::error_report(&err));
            return ExitCode::from(commands::EXIT_API);
        }
    };
    let outcome = runtime.block_on(commands::run(cli));
    // A read of stdin may still be blocked in a worker thread: do not wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", render::error_report(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
