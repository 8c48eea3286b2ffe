//! The agent's two calls to the control plane (docs/hosts.md):
//! `POST /v1/hosts/register` and `POST /v1/hosts/{id}/heartbeat`, with the
//! wire types of `wrenn_types::host_wire` and one error type that keeps the
//! control plane's error code.
use std::time::Duration;

use serde::Deserialize;

use super::{
    input::{CpUrl, HostAddress, RegistrationToken},
    specs::{HostSpecs, Usage},
};

/// Longest a registration or heartbeat call may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

use wrenn_types::host_wire::{
    AgentSpecs, FreeCapacity, HeartbeatRequest, LoadReport, RegisterRequest,
};
pub use wrenn_types::host_wire::{HeartbeatAnswer, Registered};

/// This host's specs as the registration carries them.
fn wire_specs(specs: &HostSpecs) -> AgentSpecs {
    AgentSpecs {
        arch: specs.arch.clone(),
        cpus: specs.cpus,
        memory_mb: specs.memory_mb,
        disk_mb: specs.disk_mb,
        backend: specs.backend.clone(),
        accelerator: specs.accelerator.clone(),
        agent_version: specs.agent_version.clone(),
        tls_cert_sha256: specs.tls_cert_sha256.clone(),
    }
}

/// One heartbeat's body.
fn wire_heartbeat(sent_at_ms: u64, usage: Usage) -> HeartbeatRequest {
    HeartbeatRequest {
        sent_at_ms: i64::try_from(sent_at_ms).unwrap_or(i64::MAX),
        free: FreeCapacity {
            vcpus: usage.free.vcpus,
            memory_mb: usage.free.memory_mb,
            disk_mb: usage.free.disk_mb,
        },
        load: LoadReport {
            sandboxes_running: usage.load.sandboxes_running,
            sandboxes_paused: usage.load.sandboxes_paused,
            warm: usage.load.warm,
            warm_pools: usage.load.warm_pools,
        },
    }
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// A call to the control plane that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The control plane answered with an error envelope.
    #[error("the control plane answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the control plane at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the control plane answered {status} with a body that is not the documented JSON")]
    BadAnswer {
        status: u16,
        #[source]
        source: Option<serde_json::Error>,
    },
}

impl CallError {
    /// The HTTP status, when the control plane answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { status, .. } | Self::BadAnswer { status, .. } => Some(*status),
            Self::Unreachable { .. } => None,
        }
    }
}

/// HTTP client for one control plane.
#[derive(Debug, Clone)]
pub struct CpClient {
    http: reqwest::Client,
    base: CpUrl,
}

impl CpClient {
    pub fn new(base: CpUrl) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("wrenn-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { http, base }
    }

    pub fn base(&self) -> &CpUrl {
        &self.base
    }

    /// Consumes `token`: this host becomes `online` at `address`.
    pub async fn register(
        &self,
        token: &RegistrationToken,
        address: HostAddress,
        specs: &HostSpecs,
    ) -> Result<Registered, CallError> {
        let body = RegisterRequest {
            token: token.expose().to_owned(),
            address: address.to_string(),
            specs: wire_specs(specs),
        };
        let url = self.base.join("/v1/hosts/register");
        let request = self.http.post(&url).json(&body);
        self.call(url, request).await
    }

    /// Reports `usage`; the answer carries the interval and clock skew.
    pub async fn heartbeat(
        &self,
        host_id: &str,
        host_token: &str,
        usage: Usage,
    ) -> Result<HeartbeatAnswer, CallError> {
        let body = wire_heartbeat(now_ms(), usage);
        let url = self.base.join(&format!("/v1/hosts/{host_id}/heartbeat"));
        let request = self
            .http
            .post(&url)
            .header("X-Host-Token", host_token)
            .json(&body);
        self.call(url, request).await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let unreachable = |source| CallError::Unreachable {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| CallError::BadAnswer {
                status,
                source: Some(e),
            });
        }
        match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
            Ok(ErrorEnvelope { error }) => Err(CallError::Refused {
                status,
                code: error.code,
                message: error.message,
            }),
            Err(_) => Err(CallError::BadAnswer {
                status,
                source: None,
            }),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
