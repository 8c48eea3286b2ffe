//! Wire types for Wrenn's protocols, generated at build time from `proto/`.
//!
//! The envd packages (`process`, `filesystem`) are wire-identical to the
//! interface the E2B SDKs speak; see `docs/envd-wire.md`.
#![allow(
    clippy::all,
    clippy::allow_attributes,
    clippy::allow_attributes_without_reason,
    missing_debug_implementations,
    unsafe_code,
    reason = "generated code: its shape is the generator's"
)]

connectrpc::include_generated!();
