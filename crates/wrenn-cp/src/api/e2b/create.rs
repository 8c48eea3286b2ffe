//! `POST /sandboxes` (the 2.4x SDKs) and `POST /v2/sandboxes`: E2B's create
//! body is rewritten into Wrenn's (`api::sandboxes::CreateSandbox`), so both
//! APIs share one validation and one create (`service::sandboxes`); with an
//! `Idempotency-Key`, a retried create answers the first one's sandbox.
//! Fields E2B has and Wrenn cannot honour yet are refused by name (400),
//! never silently dropped; fields this code does not know are ignored, as
//! E2B's API ignores them, so that newer SDKs keep working.
use std::collections::BTreeMap;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use wrenn_types::TimeoutAction;

use super::{
    error::{E2bError, E2bResult},
    extract::{Body, Caller},
    views::{Created, ALL_IPV4},
};
use crate::{
    api::sandboxes::{new_sandbox, types::TIMEOUT_SECS, CreateSandbox},
    lifecycle::SandboxState,
    service::sandboxes::{self as service, IdempotencyKey},
    state::AppState,
};

/// Seconds a sandbox lives without `timeout` in the body.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// E2B's `NewSandbox` / `NewSandboxV2` (v1 adds `secure`, which is moot:
/// envd always requires its access token).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSandboxBody {
    #[serde(rename = "templateID")]
    template_id: String,
    timeout: Option<i64>,
    auto_pause: Option<bool>,
    auto_pause_memory: Option<bool>,
    auto_resume: Option<AutoResume>,
    #[serde(rename = "allow_internet_access")]
    allow_internet_access: Option<bool>,
    network: Option<NetworkBody>,
    metadata: Option<BTreeMap<String, String>>,
    env_vars: Option<BTreeMap<String, String>>,
    mcp: Option<serde_json::Value>,
    iam: Option<serde_json::Value>,
    volume_mounts: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
struct AutoResume {
    enabled: bool,
}

/// E2B's `SandboxNetworkConfig` (also read for a network update).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NetworkBody {
    pub(super) allow_out: Option<Vec<String>>,
    pub(super) deny_out: Option<Vec<String>>,
    pub(super) allow_public_traffic: Option<bool>,
    pub(super) dns_servers: Option<Vec<String>>,
    pub(super) egress_proxy: Option<serde_json::Value>,
    pub(super) mask_request_host: Option<String>,
    pub(super) https_ports: Option<Vec<u16>>,
    pub(super) rules: Option<serde_json::Value>,
}

/// `POST /sandboxes` (what the 2.4x SDKs call).
pub async fn create_v1(
    state: State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body<serde_json::Value>,
) -> E2bResult<(StatusCode, Json<Created>)> {
    create(state, caller, headers, body).await
}

/// `POST /v2/sandboxes`. With `network.allowPublicTraffic: false` the answer
/// carries `trafficAccessToken`, once.
pub async fn create(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    Body(raw): Body<serde_json::Value>,
) -> E2bResult<(StatusCode, Json<Created>)> {
    let key = idempotency_key(&headers)?;
    let body: NewSandboxBody = serde_json::from_value(raw.clone())
        .map_err(|e| E2bError::bad_request(format!("invalid create body: {e}")))?;
    let request = wrenn_request(body)?;
    request.validate()?;
    let new = new_sandbox(request)?;
    let row = match key {
        // The e2b SDKs send no wait of their own: the plan's applies.
        None => service::create_waiting(&state, &principal, new, None).await?,
        Some(key) => {
            // serde_json's maps are ordered: equal bodies hash equally.
            let hash = service::request_fingerprint(raw.to_string().as_bytes());
            let row = service::create_once(&state, &principal, &key, &hash, new).await?;
            // The key's sandbox may have ended since; it is still the answer.
            if row.state != SandboxState::Running {
                return Err(E2bError::conflict(format!(
                    "the sandbox this Idempotency-Key created is {}",
                    row.state
                )));
            }
            row
        }
    };
    let token = service::envd_access_token(&state, &row)
        .await?
        .ok_or_else(|| E2bError::unavailable("the new sandbox is not running"))?;
    Ok((
        StatusCode::CREATED,
        Json(Created::new(&state, &row, &token)),
    ))
}

fn idempotency_key(headers: &HeaderMap) -> E2bResult<Option<IdempotencyKey>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| E2bError::bad_request(service::BadIdempotencyKey.to_string()))?;
    IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|e| E2bError::bad_request(e.to_string()))
}

fn unsupported(what: &str) -> E2bError {
    E2bError::bad_request(format!("{what} is not supported by this Wrenn"))
}

/// E2B's body as Wrenn's create request; refuses what Wrenn cannot do.
fn wrenn_request(body: NewSandboxBody) -> E2bResult<CreateSandbox> {
    let timeout = match body.timeout {
        None => DEFAULT_TIMEOUT_SECS,
        Some(secs) => u64::try_from(secs)
            .ok()
            .filter(|t| TIMEOUT_SECS.contains(t))
            .ok_or_else(|| {
                E2bError::bad_request(format!(
                    "timeout must be between {} and {} seconds",
                    TIMEOUT_SECS.start(),
                    TIMEOUT_SECS.end()
                ))
            })?,
    };
    let auto_pause = body.auto_pause.unwrap_or(false);
    if auto_pause && body.auto_pause_memory == Some(false) {
        return Err(unsupported(
            "autoPauseMemory: false (a filesystem-only pause on timeout)",
        ));
    }
    let auto_resume = body.auto_resume.is_some_and(|a| a.enabled);
    if auto_resume && !auto_pause {
        return Err(E2bError::bad_request(
            "autoResume needs autoPause: only a sandbox paused on timeout can be resumed by traffic",
        ));
    }
    if body.mcp.is_some_and(|m| !m.is_null()) {
        return Err(unsupported("mcp"));
    }
    if body
        .iam
        .is_some_and(|i| !i.is_null() && i != serde_json::json!({}))
    {
        return Err(unsupported("iam"));
    }
    if body.volume_mounts.is_some_and(|v| !v.is_empty()) {
        return Err(unsupported("volumeMounts"));
    }
    let egress = egress(
        body.allow_internet_access.unwrap_or(true),
        body.network.unwrap_or_default(),
    )?;
    Ok(CreateSandbox {
        template: Some(body.template_id),
        timeout_secs: Some(timeout),
        on_timeout: Some(if auto_pause {
            TimeoutAction::Pause
        } else {
            TimeoutAction::Kill
        }),
        env_vars: body.env_vars,
        metadata: body.metadata,
        internet: Some(egress.internet),
        egress_allow: Some(egress.allow),
        egress_deny: Some(egress.deny),
        auto_resume: Some(auto_resume),
        public_traffic: Some(egress.public_traffic),
        ..CreateSandbox::default()
    })
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Egress {
    pub(super) internet: bool,
    /// User ports reachable through the proxy without a traffic token.
    pub(super) public_traffic: bool,
    pub(super) allow: Vec<String>,
    pub(super) deny: Vec<String>,
}

/// E2B's network rules as Wrenn's: `denyOut: ["0.0.0.0/0"]` (or
/// `allow_internet_access: false`) is "no internet"; addresses become /32s;
/// domain names and the proxying options are refused.
pub(super) fn egress(internet: bool, network: NetworkBody) -> E2bResult<Egress> {
    let present = [
        (
            "network.dnsServers",
            network.dns_servers.is_some_and(|v| !v.is_empty()),
        ),
        (
            "network.egressProxy",
            network.egress_proxy.is_some_and(|v| !v.is_null()),
        ),
        (
            "network.maskRequestHost",
            network.mask_request_host.is_some(),
        ),
        (
            "network.httpsPorts",
            network.https_ports.is_some_and(|v| !v.is_empty()),
        ),
        (
            "network.rules",
            network
                .rules
                .is_some_and(|v| !v.is_null() && v != serde_json::json!({})),
        ),
    ];
    if let Some((name, _)) = present.iter().find(|(_, set)| *set) {
        return Err(unsupported(name));
    }
    let mut egress = Egress {
        internet,
        public_traffic: network.allow_public_traffic.unwrap_or(true),
        allow: cidrs("network.allowOut", network.allow_out.unwrap_or_default())?,
        deny: Vec::new(),
    };
    for cidr in cidrs("network.denyOut", network.deny_out.unwrap_or_default())? {
        if cidr == ALL_IPV4 {
            egress.internet = false;
        } else {
            egress.deny.push(cidr);
        }
    }
    Ok(egress)
}

fn cidrs(field: &str, entries: Vec<String>) -> E2bResult<Vec<String>> {
    entries
        .into_iter()
        .map(|entry| {
            if entry.parse::<std::net::Ipv4Addr>().is_ok() {
                return Ok(format!("{entry}/32"));
            }
            entry.parse::<ipnet::Ipv4Net>().map(|_| entry.clone()).map_err(|_| {
                E2bError::bad_request(format!(
                    "{field}: '{entry}' is not an IPv4 address or CIDR (domain names are not supported)"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> NewSandboxBody {
        serde_json::from_value(json).expect("parses")
    }

    #[test]
    fn wrenn_request_when_sdk_defaults_then_300s_kill_internet() {
        let request = wrenn_request(body(
            serde_json::json!({"templateID": "base", "metadata": {}, "envVars": {}}),
        ))
        .expect("valid");
        assert_eq!(request.timeout_secs, Some(300));
        assert_eq!(request.on_timeout, Some(TimeoutAction::Kill));
        assert_eq!(request.internet, Some(true));
        assert!(request.validate().is_ok());
    }

    #[test]
    fn wrenn_request_when_auto_resume_and_private_then_mapped() {
        let request = wrenn_request(body(serde_json::json!({"templateID": "base",
            "autoPause": true, "autoResume": {"enabled": true},
            "network": {"allowPublicTraffic": false}})))
        .expect("valid");
        assert_eq!(request.auto_resume, Some(true));
        assert_eq!(request.public_traffic, Some(false));
    }

    #[test]
    fn wrenn_request_when_auto_pause_then_pause_action() {
        let request = wrenn_request(body(
            serde_json::json!({"templateID": "base", "autoPause": true, "autoPauseMemory": true}),
        ))
        .expect("valid");
        assert_eq!(request.on_timeout, Some(TimeoutAction::Pause));
    }

    #[test]
    fn wrenn_request_when_unsupported_then_named() {
        let cases = [
            (
                serde_json::json!({"autoResume": {"enabled": true}}),
                "autoResume",
            ),
            (
                serde_json::json!({"autoPause": true, "autoPauseMemory": false}),
                "autoPauseMemory",
            ),
            (
                serde_json::json!({"volumeMounts": [{"name": "v", "path": "/v"}]}),
                "volumeMounts",
            ),
            (
                serde_json::json!({"network": {"dnsServers": ["1.1.1.1"]}}),
                "dnsServers",
            ),
            (
                serde_json::json!({"network": {"allowOut": ["example.com"]}}),
                "allowOut",
            ),
            (serde_json::json!({"timeout": 0}), "timeout"),
            (serde_json::json!({"timeout": 86401}), "timeout"),
        ];
        for (mut json, name) in cases {
            json["templateID"] = "base".into();
            let err = wrenn_request(body(json.clone())).expect_err("refused");
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{json}");
            let text = format!("{err:?}");
            assert!(text.contains(name), "{json}: {text}");
        }
    }

    #[test]
    fn egress_when_deny_all_then_internet_off_and_ips_are_32s() {
        let network = NetworkBody {
            allow_out: Some(vec!["1.1.1.1".into()]),
            deny_out: Some(vec![ALL_IPV4.into(), "10.0.0.0/8".into()]),
            ..NetworkBody::default()
        };
        let egress = egress(true, network).expect("valid");
        assert_eq!(
            egress,
            Egress {
                internet: false,
                public_traffic: true,
                allow: vec!["1.1.1.1/32".into()],
                deny: vec!["10.0.0.0/8".into()],
            }
        );
    }
}
