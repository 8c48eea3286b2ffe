//! Registration tokens and agent registration: a one-time token (1 h,
//! stored hashed) becomes a long-lived host JWT and the per-host secret the
//! control plane presents to the agent.
use std::{net::SocketAddr, time::Duration};

use axum::{extract::State, http::StatusCode, Json};
use serde::Serialize;
use wrenn_types::host_wire::{RegisterRequest, Registered};

use super::{expiry, load, normalise_fingerprint, Access};
use crate::{
    api::{
        extract::{ApiJson, ApiPath},
        rfc3339,
    },
    audit::{self, Outcome},
    auth::{host as host_auth, jwt::TokenType, Principal},
    db::{self, hosts::HostSpecs},
    error::{ApiError, ApiResult, HostError},
    state::AppState,
};

/// Lifetime of a host JWT. Revocation is by deleting the host record.
const HOST_TOKEN_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub registration_token: String,
    pub token_expires_at: String,
}

/// Issues a fresh registration token for a pending host (e.g. after a
/// registration failed mid-way); the previous token stops working.
#[utoipa::path(post, path = "/v1/hosts/{id}/token", tag = "hosts", params(("id" = String, Path)),
    responses((status = 201, body = IssuedToken), (status = 404, body = crate::error::ErrorBody), (status = 409, description = "host_not_pending", body = crate::error::ErrorBody)))]
pub async fn issue_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let host = load(&state, &principal, &id, Access::Manage).await?;
    let token = host_auth::generate_token();
    let expires_at = expiry(state.config.registration_token_ttl);
    if !db::hosts::replace_token(&state.db, &host.id, &token.hash, expires_at).await? {
        return Err(HostError::NotPending(host.id).into());
    }
    audit::record(
        &state.db,
        &principal,
        "host.token.issue",
        ("host", &host.id),
        Outcome::Ok,
        "reissued",
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            registration_token: token.secret,
            token_expires_at: rfc3339(expires_at),
        }),
    ))
}

/// Parsed, bounded registration input.
struct Registration {
    address: SocketAddr,
    specs: HostSpecs,
    tls_fingerprint: Option<String>,
}

fn parse(request: &RegisterRequest) -> Result<Registration, ApiError> {
    let address: SocketAddr = request
        .address
        .trim()
        .parse()
        .map_err(|_| ApiError::validation("address must be ip:port, e.g. 10.0.0.5:50051"))?;
    if address.port() == 0 || address.ip().is_unspecified() || address.ip().is_multicast() {
        return Err(ApiError::validation(
            "address must be a reachable unicast ip and a non-zero port",
        ));
    }
    let specs = &request.specs;
    let word = |field: &str, value: &str, max: usize| {
        let ok = (1..=max).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
        if ok {
            Ok(value.to_owned())
        } else {
            Err(ApiError::validation(format!(
                "specs.{field} must be 1-{max} characters a-z, 0-9, '_', '-', '.' or '+'"
            )))
        }
    };
    if !matches!(specs.arch.as_str(), "x86_64" | "aarch64") {
        return Err(ApiError::validation("specs.arch must be x86_64 or aarch64"));
    }
    if !matches!(specs.backend.as_str(), "qemu" | "firecracker") {
        return Err(ApiError::validation(
            "specs.backend must be qemu or firecracker",
        ));
    }
    if !(1..=4096).contains(&specs.cpus) {
        return Err(ApiError::validation(
            "specs.cpus must be between 1 and 4096",
        ));
    }
    if !(128..=64 * 1024 * 1024).contains(&specs.memory_mb) {
        return Err(ApiError::validation(
            "specs.memory_mb must be between 128 and 67108864",
        ));
    }
    if specs.disk_mb > 1024 * 1024 * 1024 {
        return Err(ApiError::validation("specs.disk_mb is implausibly large"));
    }
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Ok(Registration {
        address,
        specs: HostSpecs {
            arch: specs.arch.clone(),
            cpus: i64::from(specs.cpus),
            memory_mb: to_i64(specs.memory_mb),
            disk_mb: to_i64(specs.disk_mb),
            backend: specs.backend.clone(),
            accelerator: word("accelerator", &specs.accelerator, 32)?,
            agent_version: word("agent_version", &specs.agent_version, 64)?,
        },
        tls_fingerprint: specs
            .tls_cert_sha256
            .as_deref()
            .map(normalise_fingerprint)
            .transpose()?,
    })
}

/// Registers an agent with a one-time token: the host goes `online` and
/// the agent gets its host JWT and the secret the control plane will use.
#[utoipa::path(post, path = "/v1/hosts/register", tag = "hosts", request_body = RegisterRequest,
    security(()),
    responses(
        (status = 201, body = Registered),
        (status = 401, description = "invalid_registration_token / registration_token_expired", body = crate::error::ErrorBody),
        (status = 409, description = "host_already_registered / tls_fingerprint_mismatch", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let outcome = try_register(&state, &request).await;
    if let Err(err) = &outcome {
        refusal(&state, &request, err).await;
    }
    outcome.map(|r| (StatusCode::CREATED, Json(r)))
}

async fn try_register(state: &AppState, request: &RegisterRequest) -> ApiResult<Registered> {
    if !host_auth::looks_like_token(request.token.trim()) {
        return Err(HostError::InvalidRegistrationToken.into());
    }
    let hash = crate::auth::api_key::hash(request.token.trim());
    let host = db::hosts::find_by_token_hash(&state.db, &hash)
        .await?
        .ok_or(HostError::InvalidRegistrationToken)?;
    if host.is_registered() {
        return Err(HostError::AlreadyRegistered(host.id).into());
    }
    if host.token_expires_at.unwrap_or(0) <= db::now_ms() {
        return Err(HostError::RegistrationTokenExpired.into());
    }
    let registration = parse(request)?;
    let fingerprint = match (&host.tls_fingerprint, registration.tls_fingerprint) {
        (Some(pinned), Some(found)) if *pinned != found => {
            return Err(HostError::TlsFingerprintMismatch { found }.into());
        }
        (Some(_), None) => {
            return Err(HostError::TlsFingerprintMismatch {
                found: "none: the agent serves plain HTTP".into(),
            }
            .into());
        }
        // The one-time token authenticates the agent, so its certificate
        // can be pinned from here on.
        (_, found) => found,
    };
    let address = registration.address.to_string();
    if !db::hosts::register(
        &state.db,
        &host.id,
        &hash,
        &address,
        &registration.specs,
        fingerprint.as_deref(),
    )
    .await?
    {
        // Another agent consumed the token first, or it expired meanwhile.
        return Err(HostError::AlreadyRegistered(host.id).into());
    }
    let agent_secret =
        host_auth::agent_secret(state.config.jwt_secret.expose().as_bytes(), &host.id);
    if let Ok(id) = wrenn_types::HostId::try_from(host.id.as_str()) {
        if let Err(err) = state.hosts.refresh(&id).await {
            tracing::warn!(host_id = %host.id, error = %err, "registered host cannot be dialled");
        }
    }
    let (host_token, _) = state.jwt.issue(&host.id, TokenType::Host, HOST_TOKEN_TTL);
    audit::write(
        &state.db,
        db::audit::NewAuditEvent {
            team_id: host.team_id.as_deref(),
            actor_type: "host",
            actor_id: &host.id,
            action: "host.register",
            resource_type: "host",
            resource_id: &host.id,
            outcome: Outcome::Ok.as_str(),
            detail: &address,
        },
    )
    .await;
    tracing::info!(host_id = %host.id, address = %address, "host registered");
    Ok(Registered {
        host_id: host.id,
        host_token,
        agent_secret,
        heartbeat_interval_secs: state.config.heartbeat_interval_secs,
    })
}

/// Audits a refused registration against the host the token names, if any.
async fn refusal(state: &AppState, request: &RegisterRequest, err: &ApiError) {
    let host = if host_auth::looks_like_token(request.token.trim()) {
        let hash = crate::auth::api_key::hash(request.token.trim());
        db::hosts::find_by_token_hash(&state.db, &hash)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let host_id = host.as_ref().map_or("unknown", |h| h.id.as_str());
    audit::write(
        &state.db,
        db::audit::NewAuditEvent {
            team_id: host.as_ref().and_then(|h| h.team_id.as_deref()),
            actor_type: "host",
            actor_id: host_id,
            action: "host.register",
            resource_type: "host",
            resource_id: host_id,
            outcome: Outcome::Denied.as_str(),
            detail: err.code(),
        },
    )
    .await;
}
