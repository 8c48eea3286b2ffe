//! wrenn-cp: the control plane. Users, teams, API keys, sandbox records,
//! templates and the audit log live in the database; sandboxes run on host
//! agents, which the control plane calls over their Connect RPC API.
pub mod agent;
pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod domain;
pub mod envd;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod host_monitor;
pub mod lifecycle;
pub mod listener;
pub mod proxy;
pub mod reconcile;
pub mod retention;
pub mod role;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod service;
pub mod state;
pub mod timestamp;
pub mod tls;
pub mod traffic;
