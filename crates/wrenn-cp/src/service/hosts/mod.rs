//! Hosts: their records, registration, heartbeats and deletion
//! (docs/hosts.md), and the directory the agent connections read.
mod directory;

pub use directory::DbDirectory;
