//! Agent registration (docs/hosts.md, "Registration"): a one-time token
//! (stored hashed) becomes a long-lived host JWT and the per-host secret
//! the control plane presents to the agent. Every refusal is audited.
use std::{net::SocketAddr, time::Duration};

use wrenn_types::{
    host_wire::{RegisterRequest, Registered},
    ErrorCode,
};

use crate::{
    audit::{self, Outcome},
    auth::{host as host_auth, jwt::TokenType},
    db::{self, hosts::HostSpecs},
    state::AppState,
};

/// Lifetime of a host JWT. Revocation is by deleting the host record.
const HOST_TOKEN_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Why an agent's registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the registration token is unknown or was replaced; issue a new one with POST /v1/hosts/{{id}}/token")]
    InvalidToken,
    #[error("the registration token expired; issue a new one with POST /v1/hosts/{{id}}/token")]
    TokenExpired,
    #[error("host {0} is already registered; its token cannot be used again")]
    AlreadyRegistered(String),
    #[error("the agent's TLS certificate (sha256 {found}) is not the one pinned for this host")]
    TlsFingerprintMismatch { found: String },
    #[error(transparent)]
    AddressRefused(#[from] super::address::AddressRefusal),
    /// A malformed address or specs field; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read or write the host record")]
    Database(#[from] sqlx::Error),
}

impl RegisterError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidToken => ErrorCode::InvalidRegistrationToken,
            Self::TokenExpired => ErrorCode::RegistrationTokenExpired,
            Self::AlreadyRegistered(_) => ErrorCode::HostAlreadyRegistered,
            Self::TlsFingerprintMismatch { .. } => ErrorCode::TlsFingerprintMismatch,
            Self::AddressRefused(_) => ErrorCode::HostAddressRefused,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Database(_) => ErrorCode::Internal,
        }
    }
}

/// Registers an agent with a one-time token: the host goes `online`, every
/// replica can dial it, and the agent gets its host JWT and secret.
pub async fn register(
    state: &AppState,
    request: &RegisterRequest,
) -> Result<Registered, RegisterError> {
    let outcome = try_register(state, request).await;
    if let Err(err) = &outcome {
        refusal(state, request, err).await;
    }
    outcome
}

/// Parsed, bounded registration input.
pub(crate) struct Registration {
    address: SocketAddr,
    specs: HostSpecs,
    tls_fingerprint: Option<String>,
}

pub(crate) fn parse(request: &RegisterRequest) -> Result<Registration, RegisterError> {
    let address: SocketAddr = request
        .address
        .trim()
        .parse()
        .map_err(|_| RegisterError::invalid("address must be ip:port, e.g. 10.0.0.5:50051"))?;
    let specs = &request.specs;
    let word = |field: &str, value: &str, max: usize| {
        let ok = (1..=max).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
        if ok {
            Ok(value.to_owned())
        } else {
            Err(RegisterError::invalid(format!(
                "specs.{field} must be 1-{max} characters a-z, 0-9, '_', '-', '.' or '+'"
            )))
        }
    };
    if !matches!(specs.arch.as_str(), "x86_64" | "aarch64") {
        return Err(RegisterError::invalid(
            "specs.arch must be x86_64 or aarch64",
        ));
    }
    if !matches!(specs.backend.as_str(), "qemu" | "firecracker") {
        return Err(RegisterError::invalid(
            "specs.backend must be qemu or firecracker",
        ));
    }
    if !(1..=4096).contains(&specs.cpus) {
        return Err(RegisterError::invalid(
            "specs.cpus must be between 1 and 4096",
        ));
    }
    if !(128..=64 * 1024 * 1024).contains(&specs.memory_mb) {
        return Err(RegisterError::invalid(
            "specs.memory_mb must be between 128 and 67108864",
        ));
    }
    if specs.disk_mb > 1024 * 1024 * 1024 {
        return Err(RegisterError::invalid("specs.disk_mb is implausibly large"));
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
            .map(|raw| {
                super::normalise_fingerprint(raw)
                    .ok_or_else(|| RegisterError::invalid(super::FINGERPRINT_RULE))
            })
            .transpose()?,
    })
}

async fn try_register(
    state: &AppState,
    request: &RegisterRequest,
) -> Result<Registered, RegisterError> {
    if !host_auth::looks_like_token(request.token.trim()) {
        return Err(RegisterError::InvalidToken);
    }
    let hash = crate::auth::api_key::hash(request.token.trim());
    let host = db::hosts::find_by_token_hash(&state.db, &hash)
        .await?
        .ok_or(RegisterError::InvalidToken)?;
    if host.is_registered() {
        return Err(RegisterError::AlreadyRegistered(host.id));
    }
    if host.token_expires_at.unwrap_or(0) <= db::now_ms() {
        return Err(RegisterError::TokenExpired);
    }
    let registration = parse(request)?;
    super::address::check(
        registration.address,
        super::address::AddressPolicy {
            byoc: host.team_id.is_some(),
            allow_private: state.config.allow_private_host_addrs,
        },
    )?;
    let fingerprint = match (&host.tls_fingerprint, registration.tls_fingerprint) {
        (Some(pinned), Some(found)) if *pinned != found => {
            return Err(RegisterError::TlsFingerprintMismatch { found });
        }
        (Some(_), None) => {
            return Err(RegisterError::TlsFingerprintMismatch {
                found: "none: the agent serves plain HTTP".into(),
            });
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
        return Err(RegisterError::AlreadyRegistered(host.id));
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
async fn refusal(state: &AppState, request: &RegisterRequest, err: &RegisterError) {
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
            detail: err.code().as_str(),
        },
    )
    .await;
}
