//! Template builds from a Dockerfile, run by the control plane over the
//! agent and envd calls that already exist (see docs/architecture.md,
//! "Template builds"). This module holds the pure parts: the Dockerfile
//! parser ([`dockerfile`]), the build plan it becomes once build arguments
//! are known ([`plan`]) and the step cache keys ([`cache_key`]).
pub mod cache_key;
pub mod dockerfile;
pub mod plan;
