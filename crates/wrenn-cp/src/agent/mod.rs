//! The control plane's view of host agents: the [`AgentApi`] trait (one
//! implementation speaks the agent's Connect RPC; tests substitute a fake),
//! the plain types it trades in, and [`Hosts`], the connections to them (a
//! cache in front of the host records). Imports neither the configuration
//! nor the application state.
pub mod connect;
pub mod guest_hop;
mod hosts;
pub mod transport;

pub use hosts::{DirectoryError, HostDirectory, HostUnavailable, Hosts};

use std::{collections::BTreeMap, sync::Arc};

use wrenn_types::{Resources, TimeoutAction};

/// What to create on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCreate {
    pub id: String,
    /// The template's name on the host.
    pub template_image: String,
    pub resources: Resources,
    pub timeout_secs: u64,
    pub on_timeout: TimeoutAction,
    pub env_vars: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub internet: bool,
    pub egress_allow: Vec<String>,
    pub egress_deny: Vec<String>,
}

/// A template's start spec, recorded with its image by the host (the
/// template start/ready contract, docs/architecture.md "Template builds"):
/// with a memory snapshot the host starts the command and waits for the
/// ready command before freezing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStart {
    pub start_command: String,
    /// Empty: ready once started.
    pub ready_command: String,
    /// Empty: `user`.
    pub user: String,
    /// Empty: the user's home.
    pub workdir: String,
    pub env: BTreeMap<String, String>,
    /// 0: the host's default (120 s).
    pub ready_timeout_secs: u32,
}

/// One metrics sample of a sandbox: envd's `/metrics` object and when.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentMetricsSample {
    pub at_ms: i64,
    pub metrics: serde_json::Value,
}

/// A sandbox's whole egress policy as its host takes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentEgress {
    pub internet: bool,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Starting,
    Running,
    Pausing,
    Paused,
    Resuming,
    Stopped,
    Error,
}

/// A sandbox as its host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSandbox {
    pub id: String,
    pub state: AgentState,
    pub reason: String,
    pub timeout_at_ms: i64,
    pub from_snapshot: bool,
    /// Guest CPU milliseconds of its VMM process: the running one's so far,
    /// else the last one's final reading (a counter per VMM process, from
    /// 0). `None`: the host did not say.
    pub cpu_ms: Option<i64>,
}

/// A template as a host holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTemplate {
    pub image: String,
    pub disk_mb: u64,
    pub has_memory_snapshot: bool,
    /// The image's content address (the agent's manifest digest); empty
    /// from agents that do not compute one.
    pub digest: String,
    /// Sum of the sizes of the image's files; 0 with an empty digest.
    pub bytes: u64,
}

/// FetchTemplate: copy `image` from the agent at `source_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentFetch {
    pub image: String,
    pub digest: String,
    pub source_url: String,
    /// Signed for the source agent; never logged.
    pub grant: String,
}

impl std::fmt::Debug for AgentFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentFetch")
            .field("image", &self.image)
            .field("digest", &self.digest)
            .field("source_url", &self.source_url)
            .finish_non_exhaustive()
    }
}

/// What a FetchTemplate did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFetched {
    pub template: AgentTemplate,
    /// 0 when the host already had it.
    pub fetched_bytes: u64,
    pub duration_ms: u64,
}

/// A build base to import on a host (ImportBase): a Debian suite or an
/// OCI image reference.
#[derive(Clone)]
pub struct AgentImport {
    pub debian_suite: Option<String>,
    pub oci_reference: Option<String>,
    /// Registry credentials; the password is never logged.
    pub username: String,
    pub password: crate::secret::SecretString,
    pub insecure_registry: bool,
}

impl std::fmt::Debug for AgentImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentImport")
            .field("debian_suite", &self.debian_suite)
            .field("oci_reference", &self.oci_reference)
            .field("username", &self.username)
            .field("insecure_registry", &self.insecure_registry)
            .finish_non_exhaustive()
    }
}

/// An OCI image config's defaults (empty for a Debian base).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentImageDefaults {
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// What an import answered: the image, or the host's refusal with its
/// stable code (`registry_auth_failed`, `image_not_found`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentImported {
    Done {
        template: AgentTemplate,
        content_key: String,
        cached: bool,
        defaults: AgentImageDefaults,
    },
    Failed {
        code: String,
        message: String,
    },
}

/// A template image a host holds, as its list reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTemplateImage {
    pub image: String,
    /// When its current version was published (Unix ms).
    pub created_at_ms: i64,
}

/// Where and how to reach a sandbox's envd through its host (the agent's
/// `/envd/{id}/` proxy): base URL, the header that authenticates us to the
/// agent, and the host's HTTP clients, made once per host so that every
/// call into its sandboxes reuses pooled keep-alive connections.
#[derive(Debug, Clone)]
pub struct EnvdRoute {
    pub base_url: String,
    pub headers: Vec<(&'static str, String)>,
    /// Connect calls (plain, or the host's pinned TLS).
    pub transport: transport::AgentTransport,
    /// Plain HTTP routes (files, metrics), over the same TLS if any.
    pub http: reqwest::Client,
}

/// Why a call to an agent failed, in the terms the API maps to errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Exhausted(String),
    /// The agent could not be reached or failed the operation.
    #[error("{0}")]
    Unavailable(String),
}

pub type AgentResult<T> = Result<T, AgentError>;

/// The operations the control plane asks of a host.
#[async_trait::async_trait]
pub trait AgentApi: Send + Sync + std::fmt::Debug {
    async fn create(&self, request: AgentCreate) -> AgentResult<AgentSandbox>;
    async fn get(&self, id: &str) -> AgentResult<AgentSandbox>;
    async fn list(&self) -> AgentResult<Vec<AgentSandbox>>;
    async fn destroy(&self, id: &str) -> AgentResult<()>;
    /// [`Self::destroy`], answering the final guest CPU reading (ms) of the
    /// sandbox's VMM when the host took one.
    async fn destroy_metered(&self, id: &str) -> AgentResult<Option<i64>> {
        self.destroy(id).await.map(|()| None)
    }
    async fn pause(&self, id: &str) -> AgentResult<AgentSandbox>;
    /// Pauses keeping only the disk: the next resume boots afresh on it.
    async fn pause_disk_only(&self, id: &str) -> AgentResult<AgentSandbox> {
        let _ = id;
        Err(AgentError::Unavailable(
            "this host cannot pause without memory".into(),
        ))
    }
    /// Makes running copies `copy_ids` of running sandbox `id` (its memory
    /// and disk of this moment); all of them or none. `timeout_secs`:
    /// the copies' inactivity timeout, `None` the source's.
    async fn fork(
        &self,
        id: &str,
        copy_ids: &[String],
        timeout_secs: Option<u64>,
    ) -> AgentResult<Vec<AgentSandbox>> {
        let _ = (id, copy_ids, timeout_secs);
        Err(AgentError::Unavailable("this host cannot fork".into()))
    }
    async fn resume(&self, id: &str) -> AgentResult<AgentSandbox>;
    /// The sandbox's envd metrics as its host sampled them, in the window
    /// `[start_ms, end_ms]` (Unix ms; `None`: unbounded), oldest first.
    async fn metrics_history(
        &self,
        id: &str,
        start_ms: Option<u64>,
        end_ms: Option<u64>,
    ) -> AgentResult<Vec<AgentMetricsSample>> {
        let _ = (id, start_ms, end_ms);
        Err(AgentError::Unavailable(
            "this host keeps no metrics history".into(),
        ))
    }
    /// Replaces the sandbox's egress policy, applied at once while it runs.
    async fn update_egress(&self, id: &str, egress: &AgentEgress) -> AgentResult<AgentSandbox> {
        let _ = (id, egress);
        Err(AgentError::Unavailable(
            "this host cannot update egress live".into(),
        ))
    }
    async fn set_timeout(&self, id: &str, timeout_secs: Option<u64>) -> AgentResult<AgentSandbox>;
    /// The `X-Access-Token` envd of a running sandbox expects; `None` when
    /// it is not running. Read from the host on every call: the control
    /// plane keeps no copy (docs/security.md, "E2B API").
    async fn envd_access_token(&self, id: &str)
        -> AgentResult<Option<crate::secret::SecretString>>;
    /// Turns sandbox `id`'s disk (and with `memory` its memory) into
    /// template `image`; `start` is the template's start spec, if any.
    async fn snapshot(
        &self,
        id: &str,
        image: &str,
        memory: bool,
        start: Option<&AgentStart>,
    ) -> AgentResult<AgentTemplate>;
    async fn delete_template(&self, image: &str) -> AgentResult<()>;
    /// Copies a template from another agent and verifies it by digest
    /// (docs/architecture.md, "Templates on every host").
    async fn fetch_template(&self, request: &AgentFetch) -> AgentResult<AgentFetched> {
        Err(AgentError::Unavailable(format!(
            "this host cannot fetch template {}",
            request.image
        )))
    }
    /// Imports a build base (`FROM debian:<suite>` or an OCI image) as a
    /// template image on this host, or finds it by its content key.
    async fn import_base(&self, request: &AgentImport) -> AgentResult<AgentImported> {
        let _ = request;
        Err(AgentError::Unavailable(
            "this host cannot import build bases".into(),
        ))
    }
    /// The agent's proof over `challenge` that it holds its host's secret
    /// ([`wrenn_types::host_wire::identity_proof`]).
    async fn prove_identity(&self, challenge: &str) -> AgentResult<String>;
    /// The template images the host holds (built-ins included).
    async fn template_images(&self) -> AgentResult<Vec<AgentTemplateImage>>;
    /// The route to a sandbox's envd through this host.
    fn envd(&self, id: &str) -> EnvdRoute;
    /// The host's hop for sandbox traffic (`/guest/{id}/{port}/`); `None`
    /// for agents that have none (test fakes).
    fn guest_hop(&self) -> Option<guest_hop::GuestHop> {
        None
    }
}

/// How to reach one registered host's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    pub host_id: wrenn_types::HostId,
    /// `ip:port` as the agent registered it.
    pub address: String,
    /// What the control plane presents to it (derived per host).
    pub secret: crate::secret::SecretString,
    /// SHA-256 of the agent's TLS certificate: dial `https://` and pin it.
    pub tls_fingerprint: Option<String>,
}

/// Makes [`AgentApi`] clients for registered hosts (tests substitute fakes).
pub trait Connector: Send + Sync + std::fmt::Debug {
    fn connect(&self, target: &HostTarget) -> anyhow::Result<Arc<dyn AgentApi>>;
}

/// The production connector: Connect RPC over HTTP, or over TLS pinned to
/// the host's certificate fingerprint when it has one (presenting
/// `CP_CLIENT_CERT` to agents that require a client certificate).
#[derive(Debug, Default)]
pub struct RpcConnector {
    client_identity: Option<crate::tls::ClientIdentity>,
}

impl RpcConnector {
    pub fn new(client_identity: Option<crate::tls::ClientIdentity>) -> Self {
        Self { client_identity }
    }
}

impl Connector for RpcConnector {
    fn connect(&self, target: &HostTarget) -> anyhow::Result<Arc<dyn AgentApi>> {
        match &target.tls_fingerprint {
            Some(pin) => {
                let tls = crate::tls::pinned_client_config(pin, self.client_identity.clone())?;
                let url = format!("https://{}", target.address);
                Ok(Arc::new(connect::ConnectAgent::with_tls(
                    &url,
                    target.secret.clone(),
                    tls,
                )?))
            }
            None => {
                let url = format!("http://{}", target.address);
                Ok(Arc::new(connect::ConnectAgent::new(
                    &url,
                    target.secret.clone(),
                )?))
            }
        }
    }
}
