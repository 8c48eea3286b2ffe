//! Subcommands of the `wrenn-agent` binary that need more than a few lines.
pub mod config;
pub mod register;
pub mod serve;
