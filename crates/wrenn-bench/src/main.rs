//! `wrenn-bench`: runs Wrenn's benchmarks and prints one table.
//!
//! Built-in suites are Rust (`boot`, `sandbox`, `cp`); external suites are executables in
//! `bench/suites/` that print one row per figure as
//! `name<TAB>value<TAB>unit<TAB>note`. Absolute times on shared machines are
//! noisy, so suites report medians and ratios measured within one run.
use std::path::{Path, PathBuf};

use clap::Parser;

mod agent_vm;
mod boot;
mod confinement;
mod cp;
mod external;
mod floors;
mod fork;
mod proxy;
mod sandbox;
mod speed;
mod stats;
mod table;

pub use table::Row;

#[derive(Debug, Parser)]
#[command(about = "Run Wrenn's benchmark suites and print a table")]
struct Args {
    /// Suites to run (default: all). Built in: boot, sandbox (needs root), cp (its VM parts need root), cp-exec (only cp's exec figures, needs root), cp-overhead (only create → first result through the control plane vs straight through the agent, needs root; only when named), cp-list (list requests/s and latency, the wrenn-cp binary in $WRENN_BENCH_BASELINE_CP vs this build, SQLite and PostgreSQL; only when named), cp-ratelimit (list requests/s with rate limiting on vs off; only when named), confinement (VM confinement on vs off, needs root; only when named), proxy (1 GiB download through the sandbox proxy vs straight to envd, and the proxy's peak RSS; needs root; only when named), fork (fork of a 512 MiB sandbox into 1 and 4 copies, needs root; only when named), speed (issue #15: create vs bare restore, 50 concurrent creates, PSS of 20 idle sandboxes; needs root; only when named), floors (issue #15: resume of 512 MiB vs bare -incoming, pause time and bytes, PSS with free-page reporting; needs root; only when named). External: file names in bench/suites.
    suites: Vec<String>,
    /// Repetitions for the built-in suites.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Directory of external suites.
    #[arg(long, default_value = "bench/suites")]
    suites_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wanted = |name: &str| args.suites.is_empty() || args.suites.iter().any(|s| s == name);
    let mut rows = Vec::new();
    if wanted("boot") {
        eprintln!("running suite boot ({} runs each)...", args.runs);
        rows.extend(boot::run(args.runs).await?);
    }
    if wanted("sandbox") {
        eprintln!("running suite sandbox ({} runs each)...", args.runs);
        rows.extend(sandbox::run(args.runs).await?);
    }
    if wanted("cp") {
        eprintln!("running suite cp ({} runs each)...", args.runs);
        rows.extend(cp::run(args.runs).await?);
    }
    if args.suites.iter().any(|s| s == "cp-exec") {
        eprintln!(
            "running suite cp-exec ({} samples each)...",
            cp::EXEC_SAMPLES
        );
        rows.extend(cp::run_exec().await?);
    }
    if args.suites.iter().any(|s| s == "cp-overhead") {
        eprintln!("running suite cp-overhead ({} runs each)...", args.runs);
        rows.extend(cp::run_overhead(args.runs).await?);
    }
    if args.suites.iter().any(|s| s == "cp-list") {
        eprintln!("running suite cp-list...");
        rows.extend(cp::run_list_ab().await?);
    }
    if args.suites.iter().any(|s| s == "cp-ratelimit") {
        eprintln!("running suite cp-ratelimit...");
        rows.extend(cp::run_rate_limit().await?);
    }
    if args.suites.iter().any(|s| s == "proxy") {
        eprintln!("running suite proxy ({} runs each)...", proxy::RUNS);
        rows.extend(proxy::run().await?);
    }
    if args.suites.iter().any(|s| s == "confinement") {
        eprintln!(
            "running suite confinement ({} samples each, alternating)...",
            confinement::SAMPLES
        );
        rows.extend(confinement::run().await?);
    }
    if args.suites.iter().any(|s| s == "fork") {
        eprintln!("running suite fork ({} forks each)...", args.runs);
        rows.extend(fork::run(args.runs).await?);
    }
    if args.suites.iter().any(|s| s == "floors") {
        eprintln!("running suite floors ({} runs each)...", args.runs);
        rows.extend(floors::run(args.runs).await?);
    }
    if args.suites.iter().any(|s| s == "speed") {
        eprintln!("running suite speed ({} runs each)...", args.runs);
        rows.extend(speed::run(args.runs).await?);
    }
    for suite in external::discover(Path::new(&args.suites_dir))? {
        if wanted(&suite.name) {
            eprintln!("running suite {}...", suite.name);
            rows.extend(external::run(&suite));
        }
    }
    print!("{}", table::render(&rows));
    Ok(())
}
