//! `/v1/hosts`: host records, registration tokens, agent registration and
//! heartbeats, tags (docs/hosts.md). Operators (platform admins, or team
//! owners for their bring-your-own-cloud hosts) manage records; agents
//! register with a one-time token and then heartbeat with a host JWT.
mod heartbeat;
pub(crate) mod manage;
mod placed;
mod registration;
pub(crate) mod tags;

use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::rfc3339;
use wrenn_types::HostId;

use crate::{
    auth::Principal,
    db::hosts::HostRow,
    error::{ApiError, ApiResult},
    service::{self, hosts::Access},
    state::AppState,
};

pub use wrenn_types::host_wire::{HeartbeatAnswer, Registered};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(manage::create_host, manage::list_hosts))
        .routes(routes!(
            manage::get_host,
            manage::update_host,
            manage::delete_host
        ))
        .routes(routes!(registration::issue_token))
        .routes(routes!(placed::host_sandboxes))
        .routes(routes!(registration::register))
        .routes(routes!(heartbeat::heartbeat))
        .routes(routes!(tags::list_tags, tags::add_tags))
        .routes(routes!(tags::remove_tag))
}

use crate::service::hosts::tags::MAX_TAGS;

/// Host tags: at most 16, each 1-32 of `a-z 0-9 - _ . :`, starting with a
/// letter or digit.
pub fn validate_tags(tags: &[String]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::validation(format!(
            "at most {MAX_TAGS} tags are allowed"
        )));
    }
    for tag in tags {
        validate_tag(tag)?;
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), ApiError> {
    let ok = (1..=32).contains(&tag.len())
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && tag.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b':')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "tag '{}' is invalid: use 1-32 characters a-z, 0-9, '-', '_', '.' and ':', starting with a letter or digit",
            tag.escape_debug()
        )))
    }
}

/// Host names: 1-63 of `a-z 0-9 -`, starting with a letter or digit.
pub(crate) fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(
            "name must be 1-63 characters a-z, 0-9 and '-', starting with a letter or digit",
        ))
    }
}

/// [`crate::service::hosts::normalise_fingerprint`], refusing with 422.
pub(crate) fn normalise_fingerprint(raw: &str) -> Result<String, ApiError> {
    crate::service::hosts::normalise_fingerprint(raw)
        .ok_or_else(|| ApiError::validation(crate::service::hosts::FINGERPRINT_RULE))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HostSpecs {
    pub arch: String,
    pub cpus: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    pub backend: String,
    pub accelerator: String,
    pub agent_version: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HostLoad {
    pub free_vcpus: i64,
    pub free_memory_mb: i64,
    pub free_disk_mb: i64,
    pub sandboxes_running: i64,
    pub sandboxes_paused: i64,
}

/// A host as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Host {
    pub id: String,
    pub name: String,
    /// The team a bring-your-own-cloud host serves; `null` for shared hosts.
    pub team_id: Option<String>,
    pub byoc: bool,
    /// `pending`, `online` or `unreachable`.
    pub status: String,
    /// Why the host is unreachable; empty otherwise.
    pub status_reason: String,
    /// A draining host takes no new sandboxes.
    pub draining: bool,
    pub address: String,
    pub specs: HostSpecs,
    /// As of the last heartbeat; `null` before the first.
    pub load: Option<HostLoad>,
    pub tags: Vec<String>,
    pub tls_fingerprint: Option<String>,
    /// The agent's clock minus the control plane's at the last heartbeat.
    pub clock_skew_ms: i64,
    pub last_heartbeat_at: Option<String>,
    pub registered_at: Option<String>,
    pub created_at: String,
}

impl Host {
    fn from_record(record: service::hosts::HostRecord) -> Self {
        Self::from_row(record.row, record.tags)
    }

    fn from_row(row: HostRow, tags: Vec<String>) -> Self {
        Self {
            byoc: row.team_id.is_some(),
            id: row.id,
            name: row.name,
            team_id: row.team_id,
            status: row.status.as_str().to_owned(),
            status_reason: row.status_reason,
            draining: row.draining,
            address: row.address,
            specs: HostSpecs {
                arch: row.specs.arch,
                cpus: row.specs.cpus,
                memory_mb: row.specs.memory_mb,
                disk_mb: row.specs.disk_mb,
                backend: row.specs.backend,
                accelerator: row.specs.accelerator,
                agent_version: row.specs.agent_version,
            },
            load: row.load.map(|l| HostLoad {
                free_vcpus: l.free_vcpus,
                free_memory_mb: l.free_memory_mb,
                free_disk_mb: l.free_disk_mb,
                sandboxes_running: l.sandboxes_running,
                sandboxes_paused: l.sandboxes_paused,
            }),
            tags,
            tls_fingerprint: row.tls_fingerprint,
            clock_skew_ms: row.clock_skew_ms,
            last_heartbeat_at: row.last_heartbeat_at.map(rfc3339),
            registered_at: row.registered_at.map(rfc3339),
            created_at: rfc3339(row.created_at),
        }
    }
}

/// A host id from the path; a malformed one names no host: `404`.
fn parse_host(raw: &str) -> ApiResult<HostId> {
    HostId::try_from(raw).map_err(|_| ApiError::NotFound { what: "host" })
}

/// [`service::hosts::load`] for a host id from the path.
async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
    access: Access,
) -> ApiResult<HostRow> {
    let id = parse_host(id)?;
    Ok(service::hosts::load(&state.db, principal, &id, access).await?)
}
