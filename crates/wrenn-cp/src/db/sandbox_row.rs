//! The record of one sandbox, in its own module so that the modules the
//! record's transitions drive (`db::pools`, `db::usage`) can read it
//! without depending on `db::sandboxes`, which calls them.
use std::collections::BTreeMap;

use wrenn_types::TimeoutAction;

use crate::lifecycle::SandboxState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRow {
    pub id: String,
    pub team_id: String,
    pub host_id: Option<String>,
    pub template: String,
    pub template_image: String,
    pub state: SandboxState,
    pub reason: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_mb: Option<i64>,
    pub timeout_secs: i64,
    pub on_timeout: TimeoutAction,
    pub metadata: BTreeMap<String, String>,
    pub internet: bool,
    pub egress_allow: Vec<String>,
    pub egress_deny: Vec<String>,
    pub from_snapshot: bool,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub timeout_at: Option<i64>,
    pub updated_at: i64,
    /// A request through the sandbox proxy resumes it when paused.
    pub auto_resume: bool,
    /// User ports are reachable without `e2b-traffic-access-token`.
    pub public_traffic: bool,
    /// SHA-256 (hex) of the traffic access token; `None` with public traffic.
    pub traffic_token_hash: Option<String>,
    /// The traffic access token itself: set only in the answer of the
    /// create that minted it (never stored, never read back).
    pub traffic_access_token: Option<String>,
}
