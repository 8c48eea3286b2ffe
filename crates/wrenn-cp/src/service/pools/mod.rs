//! Pools: the plans a platform admin defines, the plan (and overrides)
//! each team is on, and the exact enforcement of a team's pool on create,
//! fork, resume and pause. What a sandbox holds follows its state transitions in
//! the database (`db::pools`); this module decides the limits and words
//! the refusal.
mod plans;
pub mod queue;
mod reserve;

pub use plans::{
    assign, delete_plan, list_plans, pool_of, put_plan, Assignment, PlanError, PlanSpec, PoolView,
};
pub use reserve::{
    effective, insert_reserved, pause_failed, pause_reserved, resume_failed, resume_reserved,
    Exhausted, Pool, ReserveError,
};

/// MiB in a GiB: plans speak GiB, sandboxes MiB.
pub const MIB_PER_GIB: i64 = 1024;
