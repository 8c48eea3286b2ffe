//! Request and response bodies of `/v1/sandboxes`, with their validation.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wrenn_types::TimeoutAction;

use crate::{api::rfc3339, db::sandboxes::SandboxRow, error::ApiError, lifecycle::SandboxState};

/// `POST /v1/sandboxes`. `Serialize` gives an idempotent create's
/// fingerprint.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSandbox {
    /// Template: a built-in (`base`) or one of the team's, as `name` or
    /// `name:tag` (the version a tag points at). Default `base`.
    #[serde(default)]
    pub template: Option<String>,
    /// 1-32; default: the template's.
    pub vcpus: Option<u32>,
    /// 128-65536; default: the template's.
    pub memory_mb: Option<u32>,
    /// Grow the disk to this size (MiB); default: the template's.
    pub disk_mb: Option<u64>,
    /// Seconds until `on_timeout` happens, counted from creation or from the
    /// last `ping`/`timeout` call; 1-86400, default 300.
    pub timeout_secs: Option<u64>,
    pub on_timeout: Option<TimeoutAction>,
    /// Environment of every command (names `[A-Za-z_][A-Za-z0-9_]*`).
    pub env_vars: Option<BTreeMap<String, String>>,
    /// Free-form labels, filterable in `GET /v1/sandboxes`.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Internet access outside `egress_allow`; default true.
    pub internet: Option<bool>,
    /// CIDRs always reachable, even with `internet: false`.
    pub egress_allow: Option<Vec<String>>,
    /// CIDRs never reachable.
    pub egress_deny: Option<Vec<String>>,
    /// Host tags the sandbox's host must carry (e.g. `["gpu"]`).
    pub tags: Option<Vec<String>>,
    /// A request through the sandbox proxy resumes the sandbox when it is
    /// paused; default false.
    pub auto_resume: Option<bool>,
    /// Guest ports other than envd's reachable through the sandbox proxy
    /// without a token; default true. When false the answer carries
    /// `traffic_access_token` (once), which requests must send in
    /// `e2b-traffic-access-token`.
    pub public_traffic: Option<bool>,
}

/// Limits of a create request.
pub const MAX_VCPUS: u32 = 32;
pub const MEMORY_MB: std::ops::RangeInclusive<u32> = 128..=65_536;
pub const DISK_MB: std::ops::RangeInclusive<u64> = 256..=1_048_576;
pub const TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 1..=86_400;
const MAX_ENTRIES: usize = 64;
const MAX_VALUE: usize = 16 * 1024;

/// `name` or `name:tag` (each part by the name rules).
pub fn validate_template_ref(value: &str) -> Result<wrenn_types::TemplateRef, ApiError> {
    wrenn_types::TemplateRef::parse(value).ok_or_else(|| {
        ApiError::validation(format!(
            "template '{value}' is not a template name or name:tag \
             (each 1-63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit)"
        ))
    })
}

pub fn validate_template_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "template name '{name}' is invalid: use 1-63 characters a-z, 0-9, '-', '_' and '.', starting with a letter or digit"
        )))
    }
}

/// A guest user name: what envd accepts in `Authorization: Basic`.
pub fn validate_guest_user(user: &str) -> Result<(), ApiError> {
    let ok = (1..=32).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "user '{user}' is not a valid user name (1-32 of a-z, A-Z, 0-9, '_', '-', '.')"
        )))
    }
}

fn validate_env(env: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if env.len() > MAX_ENTRIES {
        return Err(ApiError::validation(format!(
            "env_vars: at most {MAX_ENTRIES} variables"
        )));
    }
    for (name, value) in env {
        let ok = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && name.len() <= 256;
        if !ok {
            return Err(ApiError::validation(format!(
                "env_vars: '{name}' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        if value.len() > MAX_VALUE || value.contains('\0') {
            return Err(ApiError::validation(format!(
                "env_vars: the value of '{name}' is longer than {MAX_VALUE} bytes or contains NUL"
            )));
        }
    }
    Ok(())
}

pub fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if metadata.len() > MAX_ENTRIES {
        return Err(ApiError::validation(format!(
            "metadata: at most {MAX_ENTRIES} entries"
        )));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.len() > 128 || value.len() > 1024 {
            return Err(ApiError::validation(
                "metadata: keys must be 1-128 bytes and values at most 1024 bytes",
            ));
        }
    }
    Ok(())
}

fn validate_cidrs(field: &str, cidrs: &[String]) -> Result<(), ApiError> {
    if cidrs.len() > MAX_ENTRIES {
        return Err(ApiError::validation(format!(
            "{field}: at most {MAX_ENTRIES} CIDRs"
        )));
    }
    for cidr in cidrs {
        cidr.parse::<ipnet::Ipv4Net>().map_err(|_| {
            ApiError::validation(format!(
                "{field}: '{cidr}' is not an IPv4 CIDR such as 10.0.0.0/8"
            ))
        })?;
    }
    Ok(())
}

impl CreateSandbox {
    /// Checks every field's bounds; the host checks its own limits later.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_template_ref(self.template.as_deref().unwrap_or("base"))?;
        if let Some(v) = self.vcpus {
            if !(1..=MAX_VCPUS).contains(&v) {
                return Err(ApiError::validation(format!(
                    "vcpus must be between 1 and {MAX_VCPUS}"
                )));
            }
        }
        if let Some(m) = self.memory_mb {
            if !MEMORY_MB.contains(&m) {
                return Err(ApiError::validation(
                    "memory_mb must be between 128 and 65536",
                ));
            }
        }
        if let Some(d) = self.disk_mb {
            if !DISK_MB.contains(&d) {
                return Err(ApiError::validation(
                    "disk_mb must be between 256 and 1048576",
                ));
            }
        }
        if let Some(t) = self.timeout_secs {
            if !TIMEOUT_SECS.contains(&t) {
                return Err(ApiError::validation(
                    "timeout_secs must be between 1 and 86400",
                ));
            }
        }
        crate::api::hosts::validate_tags(self.tags.as_deref().unwrap_or_default())?;
        validate_env(self.env_vars.as_ref().unwrap_or(&BTreeMap::new()))?;
        validate_metadata(self.metadata.as_ref().unwrap_or(&BTreeMap::new()))?;
        validate_cidrs(
            "egress_allow",
            self.egress_allow.as_deref().unwrap_or_default(),
        )?;
        validate_cidrs(
            "egress_deny",
            self.egress_deny.as_deref().unwrap_or_default(),
        )?;
        Ok(())
    }
}

/// A sandbox as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sandbox {
    pub id: String,
    pub team_id: String,
    pub template: String,
    pub state: SandboxState,
    /// Why the sandbox is in its state (errors, lost hosts); empty otherwise.
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
    pub host_id: Option<String>,
    pub from_snapshot: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub timeout_at: Option<String>,
    pub updated_at: String,
    /// A request through the sandbox proxy resumes it when paused.
    pub auto_resume: bool,
    /// Its user ports need no traffic access token.
    pub public_traffic: bool,
    /// The token for `e2b-traffic-access-token`: only in the answer of the
    /// create of a sandbox without public traffic (not stored; shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_access_token: Option<String>,
    /// This control plane's `WRENN_DOMAIN`, when set: the sandbox's ports are
    /// reached at `https://<port>-<id>.<domain>` (`wrenn sandbox url`).
    /// Absent when no domain is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// envd's `X-Access-Token` for the sandbox's data plane (commands,
    /// files, PTY through the sandbox proxy): only in the answers of create,
    /// connect, resume and fork, read from the sandbox's host each time and
    /// never stored by the control plane (docs/security.md, "E2B API").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envd_access_token: Option<String>,
}

impl Sandbox {
    /// The API's view of a record, with the domain its ports are reached at.
    pub fn view(row: SandboxRow, domain: Option<&crate::domain::Domain>) -> Self {
        Self {
            domain: domain.map(ToString::to_string),
            ..Self::from(row)
        }
    }
}

impl From<SandboxRow> for Sandbox {
    fn from(row: SandboxRow) -> Self {
        Self {
            id: row.id,
            team_id: row.team_id,
            template: row.template,
            state: row.state,
            reason: row.reason,
            vcpus: row.vcpus,
            memory_mb: row.memory_mb,
            disk_mb: row.disk_mb,
            timeout_secs: row.timeout_secs,
            on_timeout: row.on_timeout,
            metadata: row.metadata,
            internet: row.internet,
            egress_allow: row.egress_allow,
            egress_deny: row.egress_deny,
            host_id: row.host_id,
            from_snapshot: row.from_snapshot,
            created_at: rfc3339(row.created_at),
            started_at: row.started_at.map(rfc3339),
            timeout_at: row.timeout_at.map(rfc3339),
            updated_at: rfc3339(row.updated_at),
            domain: None,
            envd_access_token: None,
            auto_resume: row.auto_resume,
            public_traffic: row.public_traffic,
            traffic_access_token: row.traffic_access_token,
        }
    }
}

/// `GET /v1/sandboxes` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SandboxPage {
    pub sandboxes: Vec<Sandbox>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/sandboxes/{id}/timeout`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTimeout {
    /// New inactivity timeout, from now; 1-86400.
    pub timeout_secs: u64,
}

/// `POST /v1/sandboxes/{id}/pause` (the body is optional).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseSandbox {
    /// Keep the memory (processes survive; the default). `false`: keep only
    /// the disk; the next resume boots afresh with the same id and token.
    #[serde(default = "yes")]
    pub memory: bool,
}

fn yes() -> bool {
    true
}

impl PauseSandbox {
    /// What an empty body means: memory kept.
    pub fn default_memory() -> Self {
        Self { memory: true }
    }
}

/// `POST /v1/sandboxes/{id}/fork`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkSandbox {
    /// How many copies, 1-16 (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// The copies' inactivity timeout in seconds, 1-86400 (default: the
    /// source's).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `PUT /v1/sandboxes/{id}/network`: the whole new egress policy; what it
/// leaves out is cleared (internet on, no lists).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNetwork {
    /// Internet access outside `allow_out`; default true.
    #[serde(default)]
    pub internet: Option<bool>,
    /// CIDRs or addresses always reachable.
    #[serde(default)]
    pub allow_out: Vec<String>,
    /// CIDRs or addresses never reachable.
    #[serde(default)]
    pub deny_out: Vec<String>,
}

impl UpdateNetwork {
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_cidrs("allow_out", &self.allow_out)?;
        validate_cidrs("deny_out", &self.deny_out)
    }
}

/// The copies a fork made, all running.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ForkedSandboxes {
    pub sandboxes: Vec<Sandbox>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> CreateSandbox {
        serde_json::from_value(json).expect("parses")
    }

    #[test]
    fn validate_when_defaults_then_ok() {
        assert!(request(serde_json::json!({})).validate().is_ok());
    }

    #[test]
    fn validate_when_bad_fields_then_message_names_field() {
        let cases = [
            (serde_json::json!({"vcpus": 0}), "vcpus"),
            (serde_json::json!({"memory_mb": 64}), "memory_mb"),
            (serde_json::json!({"timeout_secs": 0}), "timeout_secs"),
            (serde_json::json!({"template": "../etc"}), "template name"),
            (serde_json::json!({"env_vars": {"1BAD": "x"}}), "env_vars"),
            (
                serde_json::json!({"egress_allow": ["10.0.0.0/33"]}),
                "egress_allow",
            ),
        ];
        for (json, field) in cases {
            let err = request(json.clone()).validate().expect_err("invalid");
            assert!(err.to_string().contains(field), "{json} → {err}");
        }
    }

    #[test]
    fn deserialize_when_unknown_field_then_refused() {
        let parsed = serde_json::from_value::<CreateSandbox>(serde_json::json!({"cpus": 2}));
        assert!(parsed.is_err());
    }
}
