//! Template builds from a Dockerfile, run by the control plane over the
//! agent and envd calls that already exist (see docs/architecture.md,
//! "Template builds"). The pure parts: the Dockerfile parser
//! ([`dockerfile`]), the build plan it becomes once build arguments are
//! known ([`plan`]), the step cache keys ([`cache_key`]) and the context
//! archive ([`context`]). Then [`submit`] (validation and the record),
//! [`runner`] (the build itself) and [`read`] (views, logs, cancel, tags),
//! with [`registry_auth`] the credentials the first hands the second;
//! [`tags`] moves tags by hand;
//! [`e2b`] maps E2B's template build flow onto them.
pub mod cache_key;
pub mod context;
pub mod dockerfile;
pub mod e2b;
pub mod plan;
pub mod read;
pub mod registry_auth;
pub mod runner;
pub mod settings;
pub mod submit;
pub mod tags;
