//! What the sandbox traffic proxy ([`crate::proxy`]) shares with the rest
//! of the control plane: the per-replica route cache that lifecycle
//! changes invalidate ([`routes`], held in `AppState`) and the traffic
//! access tokens that creates mint ([`token`]). A leaf below `state` and
//! `service`: imports only rows and the lifecycle states.
pub mod routes;
pub mod token;

pub use routes::{Route, RouteCache};
