//! Host records: create (with the first registration token), list, get,
//! drain, delete.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use super::{load, normalise_fingerprint, parse_host, validate_name, validate_tags, Access, Host};
use crate::{
    api::{
        extract::{ApiJson, ApiPath, ApiQuery},
        rfc3339,
    },
    audit::{self, Outcome},
    auth::{host as host_auth, Principal, Role},
    db,
    error::{ApiError, ApiResult, HostError},
    lifecycle::SandboxState,
    service::hosts::{self as hosts, expiry},
    state::AppState,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHost {
    /// 1-63 characters a-z, 0-9 and '-'.
    pub name: String,
    /// A bring-your-own-cloud host serving only the caller's team (admins
    /// and team owners); otherwise a shared host (platform admins only).
    #[serde(default)]
    pub byoc: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    /// SHA-256 of the agent's TLS certificate, to pin it.
    pub tls_fingerprint: Option<String>,
}

/// A new host and its one-time registration token (shown only here).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedHost {
    pub host: Host,
    /// `wrh_` + 32 characters: `wrenn-agent serve --register <token> --address ip:port`.
    pub registration_token: String,
    pub token_expires_at: String,
}

/// Creates a pending host record and its registration token.
#[utoipa::path(post, path = "/v1/hosts", tag = "hosts", request_body = CreateHost,
    responses((status = 201, body = CreatedHost), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create_host(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateHost>,
) -> ApiResult<(StatusCode, Json<CreatedHost>)> {
    validate_name(&body.name)?;
    validate_tags(&body.tags)?;
    let fingerprint = body
        .tls_fingerprint
        .as_deref()
        .map(normalise_fingerprint)
        .transpose()?;
    let team_id = if body.byoc {
        if !principal.is_platform_admin() && principal.role != Role::Owner {
            return Err(ApiError::Forbidden(
                "only team owners and platform admins may add bring-your-own-cloud hosts",
            ));
        }
        principal.require_user()?;
        Some(principal.team_id.as_str())
    } else {
        if !principal.is_platform_admin() {
            return Err(ApiError::Forbidden(
                "only platform admins may add shared hosts; team owners may add BYOC hosts with \"byoc\": true",
            ));
        }
        None
    };
    let mut tags = body.tags.clone();
    tags.sort();
    tags.dedup();
    let id = db::new_id("host_");
    let token = host_auth::generate_token();
    let expires_at = expiry(state.config.registration_token_ttl);
    db::hosts::insert_pending(
        &state.db,
        &db::hosts::NewHost {
            id: &id,
            name: &body.name,
            team_id,
            tls_fingerprint: fingerprint.as_deref(),
            created_by: principal.audit_actor().1,
            token_hash: &token.hash,
            token_expires_at: expires_at,
        },
        &tags,
    )
    .await?;
    audit::record(
        &state.db,
        &principal,
        "host.create",
        ("host", &id),
        Outcome::Ok,
        if body.byoc { "byoc" } else { "shared" },
    )
    .await;
    audit::record(
        &state.db,
        &principal,
        "host.token.issue",
        ("host", &id),
        Outcome::Ok,
        "",
    )
    .await;
    let row = db::hosts::get(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound { what: "host" })?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedHost {
            host: Host::from_row(row, tags),
            registration_token: token.secret,
            token_expires_at: rfc3339(expires_at),
        }),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HostList {
    pub hosts: Vec<Host>,
}

/// Hosts the caller may see: every host for platform admins, the team's
/// bring-your-own-cloud hosts for everyone else.
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts", responses((status = 200, body = HostList)))]
pub async fn list_hosts(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<HostList>> {
    let hosts = hosts::list(&state.db, &principal).await?;
    Ok(Json(HostList {
        hosts: hosts.into_iter().map(Host::from_record).collect(),
    }))
}

/// One host.
#[utoipa::path(get, path = "/v1/hosts/{id}", tag = "hosts", params(("id" = String, Path)),
    responses((status = 200, body = Host), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_host(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Host>> {
    let host = hosts::get(&state.db, &principal, &parse_host(&id)?).await?;
    Ok(Json(Host::from_record(host)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateHost {
    /// A draining host keeps its sandboxes but takes no new ones.
    pub draining: bool,
}

/// Drains a host (or ends draining).
#[utoipa::path(patch, path = "/v1/hosts/{id}", tag = "hosts", params(("id" = String, Path)), request_body = UpdateHost,
    responses((status = 200, body = Host), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_host(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateHost>,
) -> ApiResult<Json<Host>> {
    let id = parse_host(&id)?;
    let host = hosts::set_draining(&state.db, &principal, &id, body.draining).await?;
    Ok(Json(Host::from_record(host)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// Also destroy the host's live sandboxes.
    #[serde(default)]
    pub force: bool,
}

/// Deletes a host. With live sandboxes on it this needs `?force=true`,
/// which destroys them (best effort on the host) and records them stopped.
/// The agent learns at its next heartbeat (`410 host_deleted`) and stops.
#[utoipa::path(delete, path = "/v1/hosts/{id}", tag = "hosts", params(("id" = String, Path), DeleteParams),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, description = "host_has_sandboxes", body = crate::error::ErrorBody)))]
pub async fn delete_host(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<StatusCode> {
    let row = load(&state, &principal, &id, Access::Manage).await?;
    let live: Vec<_> = db::sandboxes::live_on_host(&state.db, &row.id)
        .await?
        .into_iter()
        .chain(db::sandboxes::pending_on_host(&state.db, &row.id).await?)
        .collect();
    if !live.is_empty() && !params.force {
        return Err(HostError::HasSandboxes {
            id: row.id,
            count: live.len(),
        }
        .into());
    }
    let agent = state.hosts.agent(&row.id).await.ok();
    for sandbox in &live {
        if let Some(agent) = &agent {
            let destroyed = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                agent.destroy(&sandbox.id),
            )
            .await;
            if !matches!(destroyed, Ok(Ok(()))) {
                tracing::warn!(host_id = %row.id, sandbox_id = %sandbox.id, "cannot destroy a sandbox of a deleted host; recording it stopped");
            }
        }
        let reason = format!("host {} was deleted", row.id);
        if db::sandboxes::transition(
            &state.db,
            &sandbox.id,
            SandboxState::Stopped,
            &reason,
            db::sandboxes::TransitionExtras::default(),
        )
        .await?
        {
            audit::record_system(
                &state.db,
                &sandbox.team_id,
                "sandbox.reconcile",
                ("sandbox", &sandbox.id),
                &format!("{} → stopped: {reason}", sandbox.state),
            )
            .await;
        }
    }
    // Team templates whose files were on this host are gone with it.
    db::templates::delete_on_host(&state.db, &row.id).await?;
    db::hosts::delete(&state.db, &row.id).await?;
    if let Ok(id) = wrenn_types::HostId::try_from(row.id.as_str()) {
        state.hosts.forget(&id);
    }
    audit::record(
        &state.db,
        &principal,
        "host.delete",
        ("host", &row.id),
        Outcome::Ok,
        &format!("{} sandboxes stopped", live.len()),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
