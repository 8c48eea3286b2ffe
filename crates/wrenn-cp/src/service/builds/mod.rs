//! Template builds from a Dockerfile, run by the control plane over the
//! agent and envd calls that already exist (see docs/architecture.md,
//! "Template builds"). This module holds the pure parts: the Dockerfile
//! parser ([`dockerfile`]).
pub mod dockerfile;
