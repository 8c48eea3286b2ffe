//! The control plane's answers as the CLI reads them (docs/api.md). Each
//! struct names only the fields a command uses; unknown fields are ignored,
//! so a newer server's additions never break an older CLI, while a field the
//! CLI relies on that is missing or malformed is a decode error naming it.
//! Ids, states and timeout actions are the `wrenn-types` values, validated
//! as they are read. `--json` prints the server's document as received, not
//! these structs (see [`crate::client::Answer`]).
//!
//! Host ids stay strings: the control plane's built-in host is `local`,
//! which is not a [`wrenn_types::HostId`]; audit actors and resources are any
//! kind of id.

use std::collections::BTreeMap;

use serde::Deserialize;
use wrenn_types::{KeyId, SandboxId, SandboxState, TeamId, TemplateName, TimeoutAction, UserId};

/// `Sandbox`: one sandbox record.
#[derive(Debug, Clone, Deserialize)]
pub struct Sandbox {
    pub id: SandboxId,
    pub template: TemplateName,
    pub state: SandboxState,
    pub vcpus: u32,
    pub memory_mb: u64,
    /// Not printed; read so that an action the CLI does not know is an error.
    #[cfg_attr(not(test), expect(dead_code, reason = "validated, not printed"))]
    pub on_timeout: TimeoutAction,
    pub timeout_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The control plane's `WRENN_DOMAIN`; absent when it has none.
    #[serde(default)]
    pub domain: Option<String>,
}

/// `SandboxPage`: `GET /v1/sandboxes`.
#[derive(Debug, Clone, Deserialize)]
pub struct SandboxPage {
    pub sandboxes: Vec<Sandbox>,
    pub next_cursor: Option<String>,
}

/// `Template`: a built-in or team template.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    pub name: TemplateName,
    pub builtin: bool,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_mb: Option<u64>,
    pub has_memory_snapshot: bool,
    pub created_at: String,
}

/// `TemplateList`: `GET /v1/templates`.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateList {
    pub templates: Vec<Template>,
}

/// `ApiKey`: a key as listed (never its secret).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// `KeyList`: `GET /v1/keys`.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyList {
    pub keys: Vec<ApiKey>,
}

/// `CreatedKey`: `POST /v1/keys`, the only answer carrying the secret.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedKey {
    pub id: KeyId,
    pub key: String,
}

/// `Host`: a host record.
#[derive(Debug, Clone, Deserialize)]
pub struct Host {
    pub id: String,
    pub name: String,
    pub status: String,
    pub draining: bool,
    pub address: String,
    pub team_id: Option<TeamId>,
    pub tags: Vec<String>,
    pub last_heartbeat_at: Option<String>,
}

/// `HostList`: `GET /v1/hosts`.
#[derive(Debug, Clone, Deserialize)]
pub struct HostList {
    pub hosts: Vec<Host>,
}

/// `CreatedHost`: `POST /v1/hosts`, with its one-time registration token.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedHost {
    pub host: Host,
    #[serde(flatten)]
    pub token: IssuedToken,
}

/// `IssuedToken`: `POST /v1/hosts/{id}/token`.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuedToken {
    pub registration_token: String,
    pub token_expires_at: String,
}

/// `Tags`: a host's tags after a change.
#[derive(Debug, Clone, Deserialize)]
pub struct Tags {
    pub tags: Vec<String>,
}

/// `User`: an account.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
}

/// `Team`: a team and the caller's role in it.
#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub role: String,
}

/// `Session`: `POST /v1/auth/signup` and `/v1/auth/login`.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    pub token: String,
    pub expires_at: String,
    pub user: User,
    pub team: Team,
}

/// `Me`: `GET /v1/me`; `user` is null for an API key.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub user: Option<User>,
    pub team: Team,
    pub teams: Vec<Team>,
}

/// `AuditEvent`: one audited action.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditEvent {
    pub at: String,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub outcome: String,
}

/// `AuditPage`: `GET /v1/audit`.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
}

/// `ExecResult`: `POST /v1/sandboxes/{id}/exec`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecResult {
    pub exit_code: i32,
    pub encoding: String,
    pub stdout: String,
    pub stderr: String,
}

/// `Uploaded`: `PUT /v1/sandboxes/{id}/files`.
#[derive(Debug, Clone, Deserialize)]
pub struct Uploaded {
    pub path: String,
    pub bytes: u64,
}

/// `Entry`: one directory entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    pub mode: u32,
    pub modified_at: Option<String>,
    pub path: String,
}

/// `Listing`: `GET /v1/sandboxes/{id}/files/list`.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing {
    pub entries: Vec<Entry>,
}

/// `Build`: one template build (`/v1/templates/builds`).
#[derive(Debug, Clone, Deserialize)]
pub struct Build {
    pub id: String,
    pub name: TemplateName,
    pub tag: String,
    pub status: BuildStatus,
    pub steps_total: u32,
    pub steps_done: u32,
    pub steps_cached: u32,
    #[serde(default)]
    pub current_step: Option<u32>,
    #[serde(default)]
    pub current_step_text: Option<String>,
    #[serde(default)]
    pub error: Option<BuildFailure>,
    #[serde(default)]
    pub template_id: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
}

impl Build {
    /// `queued`, `building (step 3/7)`, `succeeded (7 steps, 5 cached)`...
    pub fn status_line(&self) -> String {
        match self.status {
            BuildStatus::Building => match self.current_step {
                Some(step) => format!("building (step {step}/{})", self.steps_total),
                None => "building".to_owned(),
            },
            BuildStatus::Succeeded => format!(
                "succeeded ({} steps, {} cached)",
                self.steps_total, self.steps_cached
            ),
            other => other.as_str().to_owned(),
        }
    }
}

/// A build's state; a status the CLI does not know is a decode error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    Queued,
    Building,
    Succeeded,
    Failed,
    Cancelled,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Queued => "queued",
            BuildStatus::Building => "building",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
            BuildStatus::Cancelled => "cancelled",
        }
    }
}

/// Why a build failed: the step's line and, for a `RUN`, its exit code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuildFailure {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub exit_code: Option<i32>,
}

/// `GET /v1/templates/builds`: `{"builds": [...]}`, or a bare array.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BuildList {
    Wrapped { builds: Vec<Build> },
    Bare(Vec<Build>),
}

impl BuildList {
    pub fn builds(&self) -> &[Build] {
        match self {
            BuildList::Wrapped { builds } | BuildList::Bare(builds) => builds,
        }
    }
}

/// One version tag of a template (`GET /v1/templates/{name}/tags`).
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateTag {
    pub tag: String,
    pub template_id: String,
    #[serde(default)]
    pub build_id: Option<String>,
    pub updated_at: String,
}

/// `GET /v1/templates/{name}/tags`: a bare array, or `{"tags": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TagList {
    Bare(Vec<TemplateTag>),
    Wrapped { tags: Vec<TemplateTag> },
}

impl TagList {
    pub fn tags(&self) -> &[TemplateTag] {
        match self {
            TagList::Wrapped { tags } | TagList::Bare(tags) => tags,
        }
    }
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
