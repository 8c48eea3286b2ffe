//! `PUT /sandboxes/{sandboxID}/network`: E2B's `SandboxNetworkUpdateConfig`
//! replaces the sandbox's egress policy (an omitted field is cleared) onto
//! `service::sandboxes::update_network`; 204.
use axum::{extract::State, http::StatusCode};
use serde::Deserialize;

use super::{
    create::{egress, NetworkBody},
    error::E2bResult,
    extract::{Body, Caller, SandboxPath},
    views::visible,
};
use crate::{agent::AgentEgress, service::sandboxes as service, state::AppState};

/// E2B's `SandboxNetworkUpdateConfig` (unknown fields are ignored, as E2B
/// does; the known ones Wrenn lacks are refused).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkUpdateBody {
    allow_out: Option<Vec<String>>,
    deny_out: Option<Vec<String>>,
    dns_servers: Option<Vec<String>>,
    egress_proxy: Option<serde_json::Value>,
    rules: Option<serde_json::Value>,
    #[serde(rename = "allow_internet_access")]
    allow_internet_access: Option<bool>,
}

pub async fn update(
    State(state): State<AppState>,
    Caller(principal): Caller,
    SandboxPath(id): SandboxPath,
    Body(body): Body<NetworkUpdateBody>,
) -> E2bResult<StatusCode> {
    let egress = policy(body)?;
    visible(service::get(&state, &principal.team_id, &id).await?)?;
    service::update_network(&state, &principal, &id, egress).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The whole new policy, read as a create's `network` is.
fn policy(body: NetworkUpdateBody) -> E2bResult<AgentEgress> {
    let network = NetworkBody {
        allow_out: body.allow_out,
        deny_out: body.deny_out,
        dns_servers: body.dns_servers,
        egress_proxy: body.egress_proxy,
        rules: body.rules,
        ..NetworkBody::default()
    };
    let egress = egress(body.allow_internet_access.unwrap_or(true), network)?;
    Ok(AgentEgress {
        internet: egress.internet,
        allow: egress.allow,
        deny: egress.deny,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> NetworkUpdateBody {
        serde_json::from_value(json).expect("parses")
    }

    #[test]
    fn policy_when_empty_then_cleared_internet_on() {
        let egress = policy(body(serde_json::json!({}))).expect("valid");
        assert!(egress.internet);
        assert!(egress.allow.is_empty() && egress.deny.is_empty());
    }

    #[test]
    fn policy_when_deny_all_then_internet_off_allow_kept() {
        let egress = policy(body(
            serde_json::json!({"allowOut": ["1.1.1.1"], "denyOut": ["0.0.0.0/0", "10.0.0.0/8"]}),
        ))
        .expect("valid");
        assert!(!egress.internet);
        assert_eq!(egress.allow, ["1.1.1.1/32"]);
        assert_eq!(egress.deny, ["10.0.0.0/8"]);
    }

    #[test]
    fn policy_when_unsupported_field_then_400_naming_it() {
        let err = policy(body(serde_json::json!({"dnsServers": ["1.1.1.1"]}))).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        let err = policy(body(serde_json::json!({"allowOut": ["example.com"]}))).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
