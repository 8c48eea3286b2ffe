//! The control plane's pinned TLS against the agent's real HTTPS server, in
//! process on loopback: the agent's router (sandbox manager never started,
//! so no root or VM) behind `wrenn_agent::tls::serve_tls`, with rcgen
//! certificates; called through `ConnectAgent::with_tls` and the envd route.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

use std::{net::SocketAddr, path::Path, time::Duration};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use wrenn_agent::{
    network::NetworkConfig,
    paths::{DataDir, KernelFormat},
    rpc::{self, AgentRpc, HostFacts, Secret},
    sandbox::{Limits, ManagerOptions, SandboxManager},
    tls::TlsFiles,
    vmm::{accel::AccelDecision, qemu::QemuBackend, Accel, BackendKind},
};
use wrenn_cp::{
    agent::{connect::ConnectAgent, transport::AgentTls, AgentApi, AgentError},
    config::SecretString,
    envd::{Envd, EnvdError, HostRefusal},
    tls::{pinned_client_config, ClientIdentity},
};

const SECRET: &str = "test-secret-0123456789";
const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("finished in time")
}

/// An agent serving HTTPS on loopback until `stop` is sent or dropped.
struct TlsAgent {
    addr: SocketAddr,
    pin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: tempfile::TempDir,
}

impl TlsAgent {
    /// `client_ca`: the PEM of the CA whose client certificates it requires.
    async fn start(client_ca: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["agent.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let files = TlsFiles {
            cert: write(dir.path(), "agent.crt", &cert.pem()),
            key: write(dir.path(), "agent.key", &key.serialize_pem()),
            client_ca: client_ca.map(|pem| write(dir.path(), "client-ca.crt", pem)),
        };
        let pin = wrenn_agent::tls::cert_sha256_hex(&files.cert).expect("fingerprint");
        let tls = files.server_config().expect("server config");
        let data = dir.path().join("data");
        let opts = ManagerOptions {
            data: DataDir::new(&data),
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
        let manager =
            SandboxManager::new(QemuBackend::unconfined(Accel::Tcg), opts).expect("manager");
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
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(wrenn_agent::tls::serve_tls(
            listener,
            app,
            tls,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            pin,
            stop: Some(stop),
            server,
            dir,
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn connect(&self, pin: &str, identity: Option<ClientIdentity>) -> ConnectAgent {
        let tls = pinned_client_config(pin, identity).expect("client config");
        ConnectAgent::with_tls(&self.url(), SecretString::new(SECRET), tls).expect("agent")
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

fn subdir(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).expect("mkdir");
    path
}

/// A CA and a client certificate it signed, as PEM files in `dir`.
struct ClientPki {
    ca_pem: String,
    identity: ClientIdentity,
}

fn client_pki(dir: &Path) -> ClientPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["wrenn-cp".into()]).expect("params");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca).expect("client cert");
    let cert_path = write(dir, "cp.crt", &cert.pem());
    let key_path = write(dir, "cp.key", &key.serialize_pem());
    ClientPki {
        ca_pem: ca.pem(),
        identity: ClientIdentity::from_pem_files(&cert_path, &key_path).expect("identity"),
    }
}

fn unavailable(result: Result<Vec<wrenn_cp::agent::AgentSandbox>, AgentError>) -> String {
    match result {
        Err(AgentError::Unavailable(message)) => message,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn with_tls_when_pin_matches_then_rpc_succeeds() {
    let agent = TlsAgent::start(None).await;
    let sandboxes = bounded(agent.connect(&agent.pin, None).list())
        .await
        .expect("list");
    assert!(sandboxes.is_empty());
}

#[tokio::test]
async fn with_tls_when_pin_differs_then_refused_with_fingerprint_mismatch() {
    let agent = TlsAgent::start(None).await;
    let wrong = "00".repeat(32);
    let message = unavailable(bounded(agent.connect(&wrong, None).list()).await);
    assert!(message.contains("fingerprint mismatch"), "{message}");
}

#[tokio::test]
async fn with_tls_when_url_is_http_then_refuses() {
    let config = pinned_client_config(&"00".repeat(32), None).expect("config");
    let err = ConnectAgent::with_tls("http://127.0.0.1:1", SecretString::new(SECRET), config)
        .expect_err("http refused");
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test]
async fn health_when_reqwest_with_pinned_config_then_ok() {
    let agent = TlsAgent::start(None).await;
    let tls = AgentTls::new(pinned_client_config(&agent.pin, None).expect("config")).expect("tls");
    let response = bounded(tls.http().get(format!("{}/health", agent.url())).send())
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn agent_when_client_offers_h2_then_serves_h2() {
    let agent = TlsAgent::start(None).await;
    let mut config = (*pinned_client_config(&agent.pin, None).expect("config")).clone();
    config.alpn_protocols.clear();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http2()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, http_body_util::Empty<bytes::Bytes>>(https);
    let uri = format!("{}/health", agent.url()).parse().expect("uri");
    let response = bounded(client.get(uri)).await.expect("health over h2");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
}

#[tokio::test]
async fn envd_route_when_agent_over_tls_then_reqwest_and_connect_reach_its_proxy() {
    let agent = TlsAgent::start(None).await;
    let envd = Envd::new(agent.connect(&agent.pin, None).envd("sbx-unknown"));
    // The proxy itself answers (the sandbox is unknown): the route got
    // through TLS on both clients.
    let over_reqwest = bounded(envd.download("user", "/etc/hostname"))
        .await
        .expect_err("unknown sandbox");
    assert!(
        matches!(
            &over_reqwest,
            EnvdError::Host {
                refusal: HostRefusal::SandboxGone,
                ..
            }
        ),
        "{over_reqwest:?}"
    );
    let over_connect = bounded(envd.make_dir("user", "/tmp/x"))
        .await
        .expect_err("unknown sandbox");
    assert!(
        matches!(
            &over_connect,
            EnvdError::Host {
                refusal: HostRefusal::SandboxGone,
                ..
            }
        ),
        "{over_connect:?}"
    );
}

#[tokio::test]
async fn mtls_when_client_presents_no_certificate_then_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = client_pki(dir.path());
    let agent = TlsAgent::start(Some(&pki.ca_pem)).await;
    let message = unavailable(bounded(agent.connect(&agent.pin, None).list()).await);
    assert!(message.contains("CertificateRequired"), "{message}");
}

#[tokio::test]
async fn mtls_when_client_certificate_signed_by_ca_then_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = client_pki(dir.path());
    let agent = TlsAgent::start(Some(&pki.ca_pem)).await;
    let sandboxes = bounded(agent.connect(&agent.pin, Some(pki.identity)).list())
        .await
        .expect("list");
    assert!(sandboxes.is_empty());
}

#[tokio::test]
async fn mtls_when_client_certificate_from_another_ca_then_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trusted = client_pki(&subdir(dir.path(), "trusted"));
    let stranger = client_pki(&subdir(dir.path(), "stranger"));
    let agent = TlsAgent::start(Some(&trusted.ca_pem)).await;
    let message =
        unavailable(bounded(agent.connect(&agent.pin, Some(stranger.identity)).list()).await);
    assert!(message.contains("alert"), "{message}");
}

#[tokio::test]
async fn serve_tls_when_stopped_then_returns_and_refuses_new_connections() {
    let mut agent = TlsAgent::start(None).await;
    let client = agent.connect(&agent.pin, None);
    bounded(client.list()).await.expect("list before stop");
    drop(agent.stop.take());
    bounded(&mut agent.server)
        .await
        .expect("server task")
        .expect("served");
    let fresh = agent.connect(&agent.pin, None);
    unavailable(bounded(fresh.list()).await);
    drop(agent.dir);
}
