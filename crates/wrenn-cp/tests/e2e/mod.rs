//! Harness of the binary end-to-end tests (`tests/e2e_binaries.rs`): a
//! [`stack::Stack`] of real `wrenn-agent serve` and `wrenn-cp` processes, the
//! `wrenn` CLI run as a subprocess ([`cli::Cli`]), and checks of what the
//! host is left with ([`host`]). Every wait is bounded.
#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "shared test helpers: not every test uses each; test code fails by panicking"
)]

pub mod cli;
pub mod host;
#[path = "../common/postgres.rs"]
pub mod postgres;
pub mod stack;

use std::time::Duration;

/// The longest any one CLI call may take, sandbox creation and snapshots
/// included (a cold boot of the `base` image takes seconds, not minutes).
pub const STEP_LIMIT: Duration = Duration::from_secs(240);
/// The longest the agent or the control plane may take to answer `/health`.
pub const START_LIMIT: Duration = Duration::from_secs(120);
