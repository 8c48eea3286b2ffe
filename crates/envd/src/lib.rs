//! envd, the Wrenn guest agent: the E2B-compatible envd API (Connect RPC
//! process and filesystem services, `/files`, `/init`...) and, as PID 1 in
//! a VM, the guest init.
pub mod alloc;
pub mod auth;
pub mod connect;
pub mod dirs;
pub mod drain;
pub mod entropy;
pub mod file_sink;
pub mod files;
pub mod filesystem;
pub mod fuzzing;
pub mod http;
pub mod init;
pub mod metadata;
pub mod multipart;
pub mod process;
pub mod server;
pub mod start;
pub mod start_routes;
pub mod state;
pub mod trust;
pub mod users;
