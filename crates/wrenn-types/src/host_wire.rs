//! The JSON of the agent's two calls to the control plane (docs/hosts.md is
//! the contract): `POST /v1/hosts/register` and
//! `POST /v1/hosts/{id}/heartbeat`, their bodies and their answers. The
//! agent serialises the requests and reads the answers; the control plane
//! the reverse. Requests refuse unknown fields; answers tolerate them, so
//! a newer control plane may add fields without breaking older agents.
use serde::{Deserialize, Serialize};

/// `specs` of a registration: the machine as the agent sees it. Sizes in MiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentSpecs {
    /// `x86_64` or `aarch64`.
    pub arch: String,
    pub cpus: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
    /// `qemu` or `firecracker`.
    pub backend: String,
    /// e.g. `kvm`, `tcg`.
    pub accelerator: String,
    pub agent_version: String,
    /// SHA-256 (hex) of the certificate the agent serves, if it serves TLS.
    pub tls_cert_sha256: Option<String>,
}

/// Body of `POST /v1/hosts/register`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The one-time registration token (`wrh_...`).
    pub token: String,
    /// `ip:port` where the control plane reaches the agent.
    pub address: String,
    pub specs: AgentSpecs,
}

impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("address", &self.address)
            .field("specs", &self.specs)
            .finish_non_exhaustive()
    }
}

/// What a registered agent keeps (in `AGENT_TOKEN_FILE`, mode 0600).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Registered {
    pub host_id: String,
    /// JWT with `typ: "host"`, sent as `X-Host-Token` on heartbeats.
    pub host_token: String,
    /// What the control plane will present to this agent.
    pub agent_secret: String,
    pub heartbeat_interval_secs: u64,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("host_id", &self.host_id)
            .field("heartbeat_interval_secs", &self.heartbeat_interval_secs)
            .finish_non_exhaustive()
    }
}

/// `free` of a heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FreeCapacity {
    pub vcpus: u32,
    pub memory_mb: u64,
    pub disk_mb: u64,
}

/// `load` of a heartbeat. Unlike the other requests it tolerates unknown
/// fields and every field added after the first release has a default, so
/// a control plane and its agents can be upgraded in either order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LoadReport {
    pub sandboxes_running: u32,
    pub sandboxes_paused: u32,
    /// Idle warm-pool sandboxes (0 when absent).
    #[serde(default)]
    pub warm: u32,
    /// Each warm pool of the host (empty when absent: an older agent).
    #[serde(default)]
    pub warm_pools: Vec<WarmPoolLoad>,
}

/// One warm pool in a heartbeat: a template and size, how many idle
/// sandboxes it holds now, how many it keeps and how many the setting
/// asked for (more than `target` when the host cannot hold them all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct WarmPoolLoad {
    /// The template image name as the agent knows it.
    pub template: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    /// Idle sandboxes ready to be claimed now.
    #[serde(default)]
    pub idle: u32,
    /// Idle sandboxes the pool keeps (after the host cap and memory
    /// pressure).
    #[serde(default)]
    pub target: u32,
    /// What the agent's setting asked for.
    #[serde(default)]
    pub asked: u32,
}

impl WarmPoolLoad {
    /// Whether the host cap or memory pressure holds the pool below what
    /// was asked.
    pub fn capped(&self) -> bool {
        self.target < self.asked
    }
}

/// Body of `POST /v1/hosts/{id}/heartbeat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The agent's clock (Unix ms) when it sent this.
    pub sent_at_ms: i64,
    pub free: FreeCapacity,
    pub load: LoadReport,
}

/// `200` answer of a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct HeartbeatAnswer {
    pub status: String,
    pub heartbeat_interval_secs: u64,
    pub server_time_ms: i64,
    /// The agent's clock minus the control plane's.
    pub clock_skew_ms: i64,
}

/// The MAC of a template grant (`X-Template-Grant: <expires_ms>.<mac>`):
/// hex HMAC-SHA256, keyed with the secret of the agent that serves the
/// template, of "wrenn-template-grant/v1\n" + template + "\n" + expires_ms.
/// The control plane signs one per fetch; the serving agent checks it with
/// its own secret, so the fetching agent never learns that secret.
pub fn template_grant_mac(agent_secret: &str, template: &str, expires_ms: u64) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(agent_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"wrenn-template-grant/v1\n");
    mac.update(template.as_bytes());
    mac.update(b"\n");
    mac.update(expires_ms.to_string().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_request_when_serialised_then_documented_shape() {
        let request = HeartbeatRequest {
            sent_at_ms: 5,
            free: FreeCapacity {
                vcpus: 1,
                memory_mb: 2,
                disk_mb: 3,
            },
            load: LoadReport {
                sandboxes_running: 4,
                sandboxes_paused: 0,
                warm: 6,
                warm_pools: vec![WarmPoolLoad {
                    template: "base".into(),
                    vcpus: 1,
                    memory_mb: 512,
                    idle: 6,
                    target: 6,
                    asked: 8,
                }],
            },
        };
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(
            json,
            r#"{"sent_at_ms":5,"free":{"vcpus":1,"memory_mb":2,"disk_mb":3},"load":{"sandboxes_running":4,"sandboxes_paused":0,"warm":6,"warm_pools":[{"template":"base","vcpus":1,"memory_mb":512,"idle":6,"target":6,"asked":8}]}}"#
        );
    }

    #[test]
    fn load_report_when_warm_absent_then_zero() {
        let load: LoadReport =
            serde_json::from_str(r#"{"sandboxes_running":1,"sandboxes_paused":2}"#).expect("json");
        assert_eq!(load.warm, 0);
        assert!(load.warm_pools.is_empty());
    }

    #[test]
    fn heartbeat_when_load_has_unknown_fields_then_accepted() {
        // A newer agent's heartbeat reaches an older control plane.
        let json = r#"{"sent_at_ms":1,"free":{"vcpus":1,"memory_mb":2,"disk_mb":3},
            "load":{"sandboxes_running":1,"sandboxes_paused":0,"future":[1],
            "warm_pools":[{"template":"base","vcpus":1,"memory_mb":512,"idle":1,"later":true}]}}"#;
        let request: HeartbeatRequest = serde_json::from_str(json).expect("tolerant");
        let pool = &request.load.warm_pools[0];
        assert_eq!((pool.idle, pool.target, pool.asked), (1, 0, 0));
        assert!(!pool.capped());
    }

    #[test]
    fn heartbeat_when_unknown_top_level_field_then_refused() {
        let json = r#"{"sent_at_ms":1,"free":{"vcpus":1,"memory_mb":2,"disk_mb":3},
            "load":{"sandboxes_running":1,"sandboxes_paused":0},"extra":1}"#;
        assert!(serde_json::from_str::<HeartbeatRequest>(json).is_err());
    }

    #[test]
    fn register_request_when_unknown_field_then_refused() {
        let json = r#"{"token":"wrh_x","address":"10.0.0.5:50051","extra":1,
            "specs":{"arch":"x86_64","cpus":1,"memory_mb":512,"disk_mb":1,"backend":"qemu",
            "accelerator":"kvm","agent_version":"0.1.0","tls_cert_sha256":null}}"#;
        assert!(serde_json::from_str::<RegisterRequest>(json).is_err());
    }

    #[test]
    fn registered_when_debug_printed_then_secrets_hidden() {
        let registered = Registered {
            host_id: "host_a".into(),
            host_token: "jwt-secret-value".into(),
            agent_secret: "agent-secret-value".into(),
            heartbeat_interval_secs: 30,
        };
        let printed = format!("{registered:?}");
        assert!(!printed.contains("secret-value"), "{printed}");
    }

    #[test]
    fn heartbeat_answer_when_extra_fields_then_accepted() {
        let json = r#"{"status":"online","heartbeat_interval_secs":30,"server_time_ms":1,"clock_skew_ms":0,"new":true}"#;
        let answer: HeartbeatAnswer = serde_json::from_str(json).expect("tolerant");
        assert_eq!(answer.heartbeat_interval_secs, 30);
    }
}

/// The agent's answer to an identity challenge: hex HMAC-SHA256 of the
/// challenge under the per-host agent secret. Before the control plane sends
/// a registered host any work it sends a fresh random challenge
/// (`HostInfoRequest.challenge`) and checks this proof, so an address that
/// is not a Wrenn agent holding that host's secret (a metadata service, an
/// internal web server named at registration) gets nothing but the
/// challenge. The secret itself never has to cross the wire for this.
pub fn identity_proof(agent_secret: &str, challenge: &str) -> String {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of every length; an empty proof would never verify.
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(agent_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"wrenn-agent-identity/v1\n");
    mac.update(challenge.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod identity_tests {
    use super::{identity_proof, template_grant_mac};

    #[test]
    fn identity_proof_when_secret_or_challenge_differs_then_differs() {
        let proof = identity_proof("secret-one", "challenge");
        assert_eq!(proof.len(), 64);
        assert_eq!(proof, identity_proof("secret-one", "challenge"));
        assert_ne!(proof, identity_proof("secret-two", "challenge"));
        assert_ne!(proof, identity_proof("secret-one", "challenge2"));
    }

    #[test]
    fn template_grant_mac_when_any_input_differs_then_differs() {
        let mac = template_grant_mac("secret-one", "tm-a", 5);
        assert_eq!(mac.len(), 64);
        assert_eq!(mac, template_grant_mac("secret-one", "tm-a", 5));
        assert_ne!(mac, template_grant_mac("secret-two", "tm-a", 5));
        assert_ne!(mac, template_grant_mac("secret-one", "tm-b", 5));
        assert_ne!(mac, template_grant_mac("secret-one", "tm-a", 6));
        assert_ne!(mac, identity_proof("secret-one", "tm-a\n5"));
    }
}
