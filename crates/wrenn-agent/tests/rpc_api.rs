//! In-process tests of the agent's RPC API: the real router and service over a
//! real TCP listener, driven by the generated Connect client. The manager sits
//! on a temporary data directory and is never started, so no root, VM or
//! network namespace is needed.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{net::SocketAddr, time::Duration};

use connectrpc::{
    client::{ClientConfig, HttpClient},
    ErrorCode,
};
use wrenn_agent::{
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    rpc::{self, AgentRpc, HostFacts, Secret},
    sandbox::{Limits, ManagerOptions, SandboxManager},
    vmm::{accel::AccelDecision, qemu::QemuBackend, Accel, BackendKind},
};
use wrenn_proto::wrenn::agent::v1::{self as pb, AgentServiceClient};

const SECRET: &str = "test-secret-0123456789";
const LIMIT: Duration = Duration::from_secs(20);

struct TestAgent {
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl TestAgent {
    async fn start() -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let opts = ManagerOptions {
            data: DataDir::new(data.path()),
            network: NetworkConfig::default(),
            limits: Limits {
                max_vcpus: 2,
                max_memory_mib: 2048,
                max_disk_mib: 4096,
            },
            ready_timeout: Duration::from_secs(5),
            kernel_format: KernelFormat::BzImage,
            guest_ca: None,
        };
        let backend = QemuBackend::unconfined(Accel::Tcg);
        let manager = SandboxManager::new(backend, opts).expect("manager");
        let facts = HostFacts {
            backend: BackendKind::Qemu,
            accel: AccelDecision {
                accel: Accel::Tcg,
                reason: "test".into(),
            },
        };
        let app = rpc::router(
            AgentRpc::new(manager, facts),
            Secret::new(SECRET).expect("secret"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(rpc::serve(listener, app, std::future::pending()));
        Self { addr, _data: data }
    }

    fn client(&self, bearer: Option<&str>) -> AgentServiceClient<HttpClient> {
        let uri = format!("http://{}", self.addr).parse().expect("uri");
        let mut config = ClientConfig::new(uri);
        if let Some(bearer) = bearer {
            config = config.with_default_header("authorization", format!("Bearer {bearer}"));
        }
        AgentServiceClient::new(HttpClient::plaintext(), config)
    }

    fn authed(&self) -> AgentServiceClient<HttpClient> {
        self.client(Some(SECRET))
    }
}

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("call finished in time")
}

#[tokio::test]
async fn list_when_no_bearer_then_unauthenticated() {
    let agent = TestAgent::start().await;
    let err = bounded(
        agent
            .client(None)
            .list_sandboxes(pb::ListSandboxesRequest::default()),
    )
    .await
    .expect_err("rejected");
    assert_eq!(err.code, ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn list_when_wrong_bearer_then_unauthenticated() {
    let agent = TestAgent::start().await;
    let client = agent.client(Some("test-secret-0123456780"));
    let err = bounded(client.list_sandboxes(pb::ListSandboxesRequest::default()))
        .await
        .expect_err("rejected");
    assert_eq!(err.code, ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn list_when_right_bearer_then_empty_list() {
    let agent = TestAgent::start().await;
    let response = bounded(
        agent
            .authed()
            .list_sandboxes(pb::ListSandboxesRequest::default()),
    )
    .await
    .expect("listed");
    assert!(response.into_owned().sandboxes.is_empty());
}

#[tokio::test]
async fn health_when_no_bearer_then_ok() {
    let agent = TestAgent::start().await;
    let response = bounded(reqwest::get(format!("http://{}/health", agent.addr)))
        .await
        .expect("health");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn get_when_bad_id_then_invalid_argument_names_field() {
    let agent = TestAgent::start().await;
    let request = pb::GetSandboxRequest {
        id: "../etc".into(),
        ..Default::default()
    };
    let err = bounded(agent.authed().get_sandbox(request))
        .await
        .expect_err("invalid");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.unwrap_or_default().starts_with("id:"));
}

#[tokio::test]
async fn destroy_when_empty_id_then_invalid_argument() {
    let agent = TestAgent::start().await;
    let err = bounded(
        agent
            .authed()
            .destroy_sandbox(pb::DestroySandboxRequest::default()),
    )
    .await
    .expect_err("invalid");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert_eq!(err.message.as_deref(), Some("id: is required"));
}

#[tokio::test]
async fn create_when_bad_template_name_then_invalid_argument() {
    let agent = TestAgent::start().await;
    let request = pb::CreateSandboxRequest {
        template: "Base/../x".into(),
        vcpus: 1,
        memory_mib: 512,
        timeout_secs: 60,
        ..Default::default()
    };
    let err = bounded(agent.authed().create_sandbox(request))
        .await
        .expect_err("invalid");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.unwrap_or_default().starts_with("template:"));
}

#[tokio::test]
async fn create_when_vcpus_over_limit_then_invalid_argument() {
    let agent = TestAgent::start().await;
    let request = pb::CreateSandboxRequest {
        template: "base".into(),
        vcpus: 64,
        memory_mib: 512,
        timeout_secs: 60,
        ..Default::default()
    };
    let err = bounded(agent.authed().create_sandbox(request))
        .await
        .expect_err("invalid");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert!(err.message.unwrap_or_default().contains("vcpus"));
}

#[tokio::test]
async fn get_when_unknown_sandbox_then_not_found() {
    let agent = TestAgent::start().await;
    let request = pb::GetSandboxRequest {
        id: "nosuchsandbox".into(),
        ..Default::default()
    };
    let err = bounded(agent.authed().get_sandbox(request))
        .await
        .expect_err("missing");
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn warm_template_when_bad_name_then_invalid_argument() {
    let agent = TestAgent::start().await;
    let request = pb::WarmTemplateRequest {
        template: "".into(),
        vcpus: 1,
        memory_mib: 512,
        ..Default::default()
    };
    let err = bounded(agent.authed().warm_template(request))
        .await
        .expect_err("invalid");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn host_info_when_asked_then_reports_backend_and_limits() {
    let agent = TestAgent::start().await;
    let info = bounded(agent.authed().host_info(pb::HostInfoRequest::default()))
        .await
        .expect("host info")
        .into_owned();
    assert_eq!(info.backend, "qemu");
    assert_eq!(info.accelerator, "tcg");
    // QEMU boots qcow2, so disks are overlays whatever the file system.
    assert_eq!(info.disk_strategy, "qcow2-overlay");
    assert_eq!(info.max_vcpus, 2);
    assert!(info.cpus >= 1 && info.total_memory_mib > 0);
    assert_eq!(info.agent_version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn envd_proxy_when_only_bearer_then_401_and_unknown_sandbox_then_404() {
    let agent = TestAgent::start().await;
    let url = format!("http://{}/envd/abc/health", agent.addr);
    let client = reqwest::Client::new();

    let bearer_only = bounded(client.get(&url).bearer_auth(SECRET).send())
        .await
        .expect("sent");
    let unknown = bounded(
        client
            .get(&url)
            .header(rpc::envd_proxy::AGENT_SECRET_HEADER, SECRET)
            .send(),
    )
    .await
    .expect("sent");

    assert_eq!(bearer_only.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
    let body: serde_json::Value = bounded(unknown.json()).await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn list_templates_when_no_images_then_empty() {
    let agent = TestAgent::start().await;
    let response = bounded(
        agent
            .authed()
            .list_templates(pb::ListTemplatesRequest::default()),
    )
    .await
    .expect("listed");
    assert!(response.into_owned().templates.is_empty());
}

#[tokio::test]
async fn delete_template_when_base_then_failed_precondition() {
    let agent = TestAgent::start().await;
    let request = pb::DeleteTemplateRequest {
        template: "base".into(),
        ..Default::default()
    };
    let err = bounded(agent.authed().delete_template(request))
        .await
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
}

#[tokio::test]
async fn snapshot_when_unknown_sandbox_then_not_found() {
    let agent = TestAgent::start().await;
    let request = pb::SnapshotSandboxRequest {
        id: "abc".into(),
        template: "snap".into(),
        ..Default::default()
    };
    let err = bounded(agent.authed().snapshot_sandbox(request))
        .await
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn snapshot_when_bad_template_name_then_invalid_argument() {
    let agent = TestAgent::start().await;
    let request = pb::SnapshotSandboxRequest {
        id: "abc".into(),
        template: "../evil".into(),
        ..Default::default()
    };
    let err = bounded(agent.authed().snapshot_sandbox(request))
        .await
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}
