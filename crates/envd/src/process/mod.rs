//! `process.Process`: the process table (`table`), its Connect handlers
//! (`rpc`), the framing of their events (`frames`) and starting a process as a user on pipes or a PTY (`spawn`).
//! The shared state holds the table by its full path (`process::table`), so
//! the handlers may use the state without an import cycle.
mod frames;
pub mod rpc;
pub mod spawn;
pub mod table;

pub use spawn::{spawn as spawn_process, SpawnSpec, Spawned};
pub use table::{Process, ProcessTable, Selector};
