//! Sandboxes as E2B's API shows them: the created/connected sandbox, the
//! listed one and the detail, with every key the e2b SDK requires (it pops
//! them without defaults). Only `running` and `paused` sandboxes exist for
//! E2B; the rest are "not found".
use std::collections::BTreeMap;

use serde::Serialize;
use wrenn_types::TimeoutAction;

use super::error::E2bError;
use crate::{
    api::rfc3339, db::sandboxes::SandboxRow, lifecycle::SandboxState, secret::SecretString,
    state::AppState,
};

/// The envd wire version Wrenn's envd implements (crates/envd's
/// `ENVD_VERSION`); the SDK gates features on it and refuses below 0.1.0.
pub const ENVD_VERSION: &str = "0.6.13";

/// E2B's legacy `clientID`, still required by the SDK; Wrenn has no such
/// thing and does not reveal hosts, so it is one fixed value.
pub const CLIENT_ID: &str = "wrenn";

/// `running` or `paused`; `None`: the sandbox does not exist for E2B.
pub fn e2b_state(state: SandboxState) -> Option<&'static str> {
    match state {
        SandboxState::Running => Some("running"),
        SandboxState::Paused => Some("paused"),
        _ => None,
    }
}

/// The row if E2B can see it, else "not found".
pub fn visible(row: SandboxRow) -> Result<SandboxRow, E2bError> {
    e2b_state(row.state)
        .map(|_| row)
        .ok_or_else(E2bError::sandbox_not_found)
}

fn domain(state: &AppState) -> Option<String> {
    state.config.domain.as_ref().map(ToString::to_string)
}

/// A created, connected or resumed sandbox (E2B's `Sandbox`).
#[derive(Debug, Serialize)]
pub struct Created {
    #[serde(rename = "templateID")]
    pub template_id: String,
    pub alias: String,
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "clientID")]
    pub client_id: &'static str,
    #[serde(rename = "envdVersion")]
    pub envd_version: &'static str,
    #[serde(rename = "envdAccessToken")]
    pub envd_access_token: String,
    /// Only in the create of a sandbox without public traffic (shown once).
    #[serde(rename = "trafficAccessToken", skip_serializing_if = "Option::is_none")]
    pub traffic_access_token: Option<String>,
    pub domain: Option<String>,
}

impl Created {
    pub fn new(state: &AppState, row: &SandboxRow, token: &SecretString) -> Self {
        Self {
            template_id: row.template.clone(),
            alias: row.template.clone(),
            sandbox_id: row.id.clone(),
            client_id: CLIENT_ID,
            envd_version: ENVD_VERSION,
            envd_access_token: token.expose().to_owned(),
            traffic_access_token: row.traffic_access_token.clone(),
            domain: domain(state),
        }
    }
}

/// One sandbox of a list (E2B's `ListedSandbox`).
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(rename = "templateID")]
    pub template_id: String,
    pub alias: String,
    #[serde(rename = "sandboxID")]
    pub sandbox_id: String,
    #[serde(rename = "clientID")]
    pub client_id: &'static str,
    #[serde(rename = "startedAt")]
    pub started_at: String,
    #[serde(rename = "endAt")]
    pub end_at: String,
    #[serde(rename = "cpuCount")]
    pub cpu_count: i64,
    #[serde(rename = "memoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "diskSizeMB")]
    pub disk_size_mb: i64,
    pub state: &'static str,
    #[serde(rename = "envdVersion")]
    pub envd_version: &'static str,
    pub metadata: BTreeMap<String, String>,
    /// Wrenn has no volumes: always empty.
    #[serde(rename = "volumeMounts")]
    pub volume_mounts: Vec<serde_json::Value>,
}

impl Listed {
    /// `None` for a sandbox E2B does not see (neither running nor paused).
    pub fn of(row: SandboxRow) -> Option<Self> {
        let state = e2b_state(row.state)?;
        Some(Self {
            template_id: row.template.clone(),
            alias: row.template,
            sandbox_id: row.id,
            client_id: CLIENT_ID,
            started_at: rfc3339(row.started_at.unwrap_or(row.created_at)),
            // A paused sandbox has no deadline; its last one stands in.
            end_at: rfc3339(row.timeout_at.unwrap_or(row.updated_at)),
            cpu_count: row.vcpus,
            memory_mb: row.memory_mb,
            // Unknown (the template's size) when not chosen at create.
            disk_size_mb: row.disk_mb.unwrap_or(0),
            state,
            envd_version: ENVD_VERSION,
            metadata: row.metadata,
            volume_mounts: Vec::new(),
        })
    }
}

/// E2B's `SandboxNetworkConfig` as stored.
#[derive(Debug, Serialize)]
pub struct Network {
    #[serde(rename = "allowOut")]
    pub allow_out: Vec<String>,
    #[serde(rename = "denyOut")]
    pub deny_out: Vec<String>,
    #[serde(rename = "allowPublicTraffic")]
    pub allow_public_traffic: bool,
}

#[derive(Debug, Serialize)]
pub struct Lifecycle {
    #[serde(rename = "autoResume")]
    pub auto_resume: bool,
    #[serde(rename = "onTimeout")]
    pub on_timeout: TimeoutAction,
}

/// One sandbox in detail (E2B's `SandboxDetail`).
#[derive(Debug, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub listed: Listed,
    /// Only while it runs (the host hands it out then).
    #[serde(rename = "envdAccessToken", skip_serializing_if = "Option::is_none")]
    pub envd_access_token: Option<String>,
    #[serde(rename = "allowInternetAccess")]
    pub allow_internet_access: bool,
    pub domain: Option<String>,
    pub network: Network,
    pub lifecycle: Lifecycle,
}

/// Everything outside the allow list, as E2B writes "no internet".
pub const ALL_IPV4: &str = "0.0.0.0/0";

impl Detail {
    pub fn of(
        state: &AppState,
        row: SandboxRow,
        token: Option<&SecretString>,
    ) -> Result<Self, E2bError> {
        let mut deny_out = row.egress_deny.clone();
        if !row.internet {
            deny_out.push(ALL_IPV4.to_owned());
        }
        let network = Network {
            allow_out: row.egress_allow.clone(),
            deny_out,
            allow_public_traffic: row.public_traffic,
        };
        let (internet, on_timeout, auto_resume) = (row.internet, row.on_timeout, row.auto_resume);
        let listed = Listed::of(row).ok_or_else(E2bError::sandbox_not_found)?;
        Ok(Self {
            listed,
            envd_access_token: token.map(|t| t.expose().to_owned()),
            allow_internet_access: internet,
            domain: domain(state),
            network,
            lifecycle: Lifecycle {
                auto_resume,
                on_timeout,
            },
        })
    }
}

/// One metrics sample (E2B's `SandboxMetric`).
#[derive(Debug, Serialize)]
pub struct Metric {
    pub timestamp: String,
    #[serde(rename = "timestampUnix")]
    pub timestamp_unix: i64,
    #[serde(rename = "cpuCount")]
    pub cpu_count: u64,
    #[serde(rename = "cpuUsedPct")]
    pub cpu_used_pct: f64,
    #[serde(rename = "memUsed")]
    pub mem_used: u64,
    #[serde(rename = "memTotal")]
    pub mem_total: u64,
    #[serde(rename = "memCache")]
    pub mem_cache: u64,
    #[serde(rename = "diskUsed")]
    pub disk_used: u64,
    #[serde(rename = "diskTotal")]
    pub disk_total: u64,
}
