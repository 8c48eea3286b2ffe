//! wrenn-agent: everything that runs on one host. The library holds the parts
//! (paths, VMM backends); `main.rs` wires them into the daemon and subcommands.
pub mod devboot;
pub mod disk;
pub mod envd_client;
#[doc(hidden)]
pub mod fuzzing;
pub mod guest_ca;
pub mod network;
pub mod paths;
pub mod registration;
pub mod rpc;
pub mod sandbox;
pub mod tls;
pub mod vmm;
