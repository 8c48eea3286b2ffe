//! Wire types for Wrenn's protocols, generated at build time from `proto/`.
//!
//! The envd packages (`process`, `filesystem`) are wire-identical to the
//! interface the E2B SDKs speak; see `docs/envd-wire.md`.
#![allow(clippy::all, missing_debug_implementations, unsafe_code)]

connectrpc::include_generated!();
