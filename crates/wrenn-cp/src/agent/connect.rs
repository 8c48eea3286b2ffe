//! [`AgentApi`] over the agent's Connect RPC (`wrenn.agent.v1.AgentService`),
//! authenticated with the agent's shared secret.
use std::sync::Arc;

use buffa::view::{MessageView, OwnedView};
use connectrpc::{
    client::{ClientConfig, UnaryResponse},
    ConnectError, ErrorCode,
};
use wrenn_proto::wrenn::agent::v1::{self as pb, AgentServiceClient, SandboxState};
use wrenn_types::TimeoutAction;

use super::{
    guest_hop::GuestHop,
    transport::{AgentTls, AgentTransport},
    AgentApi, AgentCreate, AgentEgress, AgentError, AgentFetch, AgentFetched, AgentMetricsSample,
    AgentResult, AgentSandbox, AgentState, AgentTemplate, AgentTemplateImage, EnvdRoute,
};
use crate::secret::SecretString;

#[derive(Debug, thiserror::Error)]
#[error("invalid agent URL '{0}'")]
pub struct BadAgentUrl(String);

#[derive(Debug, thiserror::Error)]
pub enum AgentTlsError {
    #[error(transparent)]
    BadUrl(#[from] BadAgentUrl),
    #[error("agent URL '{0}' must start with https:// to use TLS")]
    NotHttps(String),
    #[error("cannot build the HTTPS client for the agent")]
    Client(#[source] reqwest::Error),
}

/// One host agent reached over HTTP or HTTPS.
pub struct ConnectAgent {
    client: AgentServiceClient<AgentTransport>,
    base_url: String,
    secret: SecretString,
    tls: Option<AgentTls>,
    /// The pooled clients of every call to this host's envd proxy.
    envd_transport: AgentTransport,
    envd_http: reqwest::Client,
    /// The pooled client of the sandbox traffic proxy's hop.
    guest_hop: GuestHop,
}

impl std::fmt::Debug for ConnectAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectAgent")
            .field("base_url", &self.base_url)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl ConnectAgent {
    /// An agent over plain HTTP (`http://host:port`).
    pub fn new(base_url: &str, secret: SecretString) -> Result<Self, BadAgentUrl> {
        Self::build(base_url, secret, None)
    }

    /// An agent over HTTPS (`https://host:port`) with `tls`, normally
    /// [`crate::tls::pinned_client_config`] for the host's fingerprint; the
    /// envd routes of its sandboxes use the same configuration.
    pub fn with_tls(
        base_url: &str,
        secret: SecretString,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, AgentTlsError> {
        if !base_url.starts_with("https://") {
            return Err(AgentTlsError::NotHttps(base_url.to_owned()));
        }
        let tls = AgentTls::new(tls).map_err(AgentTlsError::Client)?;
        Ok(Self::build(base_url, secret, Some(tls))?)
    }

    fn build(
        base_url: &str,
        secret: SecretString,
        tls: Option<AgentTls>,
    ) -> Result<Self, BadAgentUrl> {
        let uri = base_url
            .parse()
            .map_err(|_| BadAgentUrl(base_url.to_owned()))?;
        let config = ClientConfig::new(uri)
            .with_default_header("authorization", format!("Bearer {}", secret.expose()));
        let transport = AgentTransport::new(tls.as_ref());
        let envd_http = match &tls {
            Some(tls) => tls.http().clone(),
            None => plain_http(),
        };
        let base_url = base_url.trim_end_matches('/');
        let guest_hop = match &tls {
            Some(tls) => GuestHop::tls(base_url, secret.clone(), tls.config()),
            None => GuestHop::plain(base_url, secret.clone()),
        };
        Ok(Self {
            client: AgentServiceClient::new(transport.clone(), config),
            base_url: base_url.to_owned(),
            secret,
            tls,
            envd_transport: transport,
            envd_http,
            guest_hop,
        })
    }
}

/// reqwest for plain HTTP envd routes, with the API's connect deadline.
fn plain_http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

/// Turns an agent's refusal into an [`AgentError`]. Users see the agent's
/// words only for its typed Connect refusals, cut to one short line of
/// printable text: they come from a host that proved its identity and say
/// what to fix (an unknown template, a sandbox in the wrong state). A
/// failure our own transport classified (refused connection, certificate
/// mismatch) keeps its description, which holds nothing the host sent. Any
/// other reply (an unknown code, a body that is not Connect at all) could
/// be any server's, so users get a fixed message and the reply goes to the
/// log only.
fn agent_error(err: ConnectError) -> AgentError {
    // connectrpc's wording for a reply that was not a Connect error: the
    // rest of the message is the raw body.
    let foreign = err
        .message
        .as_deref()
        .is_some_and(|m| m.starts_with("HTTP error "));
    let message = || {
        err.message
            .as_deref()
            .map(printable_line)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("{:?}", err.code))
    };
    let not_reflected = |code: ErrorCode| {
        tracing::warn!(?code, reply = ?err.message, "host agent call failed");
        AgentError::Unavailable(format!(
            "the host's agent failed the call ({code:?}); see the control plane's log"
        ))
    };
    if foreign {
        return not_reflected(err.code);
    }
    match err.code {
        ErrorCode::NotFound => AgentError::NotFound(message()),
        ErrorCode::InvalidArgument => AgentError::InvalidArgument(message()),
        ErrorCode::FailedPrecondition | ErrorCode::Aborted => {
            AgentError::FailedPrecondition(message())
        }
        ErrorCode::AlreadyExists => AgentError::AlreadyExists(message()),
        ErrorCode::ResourceExhausted => AgentError::Exhausted(message()),
        ErrorCode::Unavailable if err.source_arc().is_some() => AgentError::Unavailable(message()),
        code => not_reflected(code),
    }
}

fn agent_template(template: pb::Template) -> AgentTemplate {
    AgentTemplate {
        image: template.name,
        disk_mb: template.disk_mib,
        has_memory_snapshot: template.has_memory_snapshot,
        digest: template.digest,
        bytes: template.artefact_bytes,
    }
}

/// The outcome of one agent RPC: its owned reply, or the refusal as an
/// [`AgentError`] ([`agent_error`]).
fn reply<V>(outcome: Result<UnaryResponse<OwnedView<V>>, ConnectError>) -> AgentResult<V::Owned>
where
    V: MessageView<'static>,
{
    outcome.map(UnaryResponse::into_owned).map_err(agent_error)
}

/// Longest agent message passed on to users.
const MAX_AGENT_MESSAGE: usize = 300;

/// `text` as one line of printable characters, at most [`MAX_AGENT_MESSAGE`].
fn printable_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_AGENT_MESSAGE)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The one conversion of [`TimeoutAction`] to the wire.
fn timeout_action(action: TimeoutAction) -> pb::TimeoutAction {
    match action {
        TimeoutAction::Kill => pb::TimeoutAction::TIMEOUT_ACTION_KILL,
        TimeoutAction::Pause => pb::TimeoutAction::TIMEOUT_ACTION_PAUSE,
    }
}

fn state(state: Option<SandboxState>) -> AgentState {
    match state {
        Some(SandboxState::SANDBOX_STATE_STARTING) => AgentState::Starting,
        Some(SandboxState::SANDBOX_STATE_RUNNING) => AgentState::Running,
        Some(SandboxState::SANDBOX_STATE_PAUSING) => AgentState::Pausing,
        Some(SandboxState::SANDBOX_STATE_PAUSED) => AgentState::Paused,
        Some(SandboxState::SANDBOX_STATE_RESUMING) => AgentState::Resuming,
        Some(SandboxState::SANDBOX_STATE_STOPPED) => AgentState::Stopped,
        Some(SandboxState::SANDBOX_STATE_ERROR | SandboxState::SANDBOX_STATE_UNSPECIFIED)
        | None => AgentState::Error,
    }
}

fn sandbox(sandbox: Option<pb::Sandbox>) -> AgentResult<AgentSandbox> {
    let sandbox = sandbox
        .ok_or_else(|| AgentError::Unavailable("the agent answered without a sandbox".into()))?;
    Ok(AgentSandbox {
        state: state(sandbox.state.as_known()),
        id: sandbox.id,
        reason: sandbox.reason,
        timeout_at_ms: i64::try_from(sandbox.timeout_at_ms).unwrap_or(i64::MAX),
        from_snapshot: sandbox.from_snapshot,
        cpu_ms: sandbox.cpu_usage_ms.and_then(|ms| i64::try_from(ms).ok()),
    })
}

#[async_trait::async_trait]
impl AgentApi for ConnectAgent {
    async fn create(&self, request: AgentCreate) -> AgentResult<AgentSandbox> {
        let message = pb::CreateSandboxRequest {
            id: request.id,
            template: request.template_image,
            vcpus: request.resources.vcpus(),
            memory_mib: request.resources.memory_mb(),
            disk_mib: request.resources.disk_mb(),
            timeout_secs: request.timeout_secs,
            on_timeout: timeout_action(request.on_timeout).into(),
            env_vars: request.env_vars.into_iter().collect(),
            metadata: request.metadata.into_iter().collect(),
            egress: pb::Egress {
                internet: request.internet,
                allow: request.egress_allow,
                deny: request.egress_deny,
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        let response = reply(self.client.create_sandbox(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn get(&self, id: &str) -> AgentResult<AgentSandbox> {
        let message = pb::GetSandboxRequest {
            id: id.into(),
            ..Default::default()
        };
        let response = reply(self.client.get_sandbox(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn list(&self) -> AgentResult<Vec<AgentSandbox>> {
        let response = reply(
            self.client
                .list_sandboxes(pb::ListSandboxesRequest::default())
                .await,
        )?;
        response
            .sandboxes
            .into_iter()
            .map(|s| sandbox(Some(s)))
            .collect()
    }

    async fn destroy(&self, id: &str) -> AgentResult<()> {
        self.destroy_metered(id).await.map(drop)
    }

    async fn destroy_metered(&self, id: &str) -> AgentResult<Option<i64>> {
        let message = pb::DestroySandboxRequest {
            id: id.into(),
            ..Default::default()
        };
        let response = reply(self.client.destroy_sandbox(message).await)?;
        Ok(response.cpu_usage_ms.and_then(|ms| i64::try_from(ms).ok()))
    }

    async fn pause(&self, id: &str) -> AgentResult<AgentSandbox> {
        let message = pb::PauseSandboxRequest {
            id: id.into(),
            ..Default::default()
        };
        let response = reply(self.client.pause_sandbox(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn pause_disk_only(&self, id: &str) -> AgentResult<AgentSandbox> {
        let message = pb::PauseSandboxRequest {
            id: id.into(),
            disk_only: true,
            ..Default::default()
        };
        let response = reply(self.client.pause_sandbox(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn fork(
        &self,
        id: &str,
        copy_ids: &[String],
        timeout_secs: Option<u64>,
    ) -> AgentResult<Vec<AgentSandbox>> {
        let message = pb::ForkSandboxRequest {
            id: id.into(),
            copy_ids: copy_ids.to_vec(),
            timeout_secs,
            ..Default::default()
        };
        let response = reply(self.client.fork_sandbox(message).await)?;
        response
            .copies
            .into_iter()
            .map(|s| sandbox(Some(s)))
            .collect()
    }

    async fn metrics_history(
        &self,
        id: &str,
        start_ms: Option<u64>,
        end_ms: Option<u64>,
    ) -> AgentResult<Vec<AgentMetricsSample>> {
        let message = pb::GetMetricsRequest {
            id: id.into(),
            start_ms,
            end_ms,
            ..Default::default()
        };
        let response = reply(self.client.get_metrics(message).await)?;
        Ok(response
            .samples
            .into_iter()
            .map(|s| AgentMetricsSample {
                at_ms: i64::try_from(s.at_ms).unwrap_or(i64::MAX),
                metrics: serde_json::from_str(&s.json).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    async fn update_egress(&self, id: &str, egress: &AgentEgress) -> AgentResult<AgentSandbox> {
        let message = pb::UpdateEgressRequest {
            id: id.into(),
            egress: pb::Egress {
                internet: egress.internet,
                allow: egress.allow.clone(),
                deny: egress.deny.clone(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        };
        let response = reply(self.client.update_egress(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn resume(&self, id: &str) -> AgentResult<AgentSandbox> {
        let message = pb::ResumeSandboxRequest {
            id: id.into(),
            ..Default::default()
        };
        let response = reply(self.client.resume_sandbox(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn set_timeout(&self, id: &str, timeout_secs: Option<u64>) -> AgentResult<AgentSandbox> {
        let message = pb::SetTimeoutRequest {
            id: id.into(),
            timeout_secs,
            ..Default::default()
        };
        let response = reply(self.client.set_timeout(message).await)?;
        sandbox(response.sandbox.into_option())
    }

    async fn envd_access_token(&self, id: &str) -> AgentResult<Option<SecretString>> {
        let message = pb::GetSandboxRequest {
            id: id.into(),
            ..Default::default()
        };
        let response = reply(self.client.get_sandbox(message).await)?;
        // The agent sets the token only while the sandbox runs.
        Ok(response
            .sandbox
            .into_option()
            .map(|s| s.envd_access_token)
            .filter(|token| !token.is_empty())
            .map(SecretString::new))
    }

    async fn snapshot(
        &self,
        id: &str,
        image: &str,
        memory: bool,
        start: Option<&super::AgentStart>,
    ) -> AgentResult<AgentTemplate> {
        let start = start.map(|s| pb::TemplateStart {
            start_command: s.start_command.clone(),
            ready_command: s.ready_command.clone(),
            user: s.user.clone(),
            workdir: s.workdir.clone(),
            env: s.env.clone().into_iter().collect(),
            ready_timeout_secs: s.ready_timeout_secs,
            ..Default::default()
        });
        let message = pb::SnapshotSandboxRequest {
            id: id.into(),
            template: image.into(),
            memory,
            start: start.into(),
            ..Default::default()
        };
        let response = reply(self.client.snapshot_sandbox(message).await)?;
        let template = response.template.into_option().ok_or_else(|| {
            AgentError::Unavailable("the agent answered without a template".into())
        })?;
        Ok(agent_template(template))
    }

    async fn fetch_template(&self, request: &AgentFetch) -> AgentResult<AgentFetched> {
        let message = pb::FetchTemplateRequest {
            template: request.image.clone(),
            digest: request.digest.clone(),
            source_url: request.source_url.clone(),
            grant: request.grant.clone(),
            ..Default::default()
        };
        let response = reply(self.client.fetch_template(message).await)?;
        let template = response.template.into_option().ok_or_else(|| {
            AgentError::Unavailable("the agent answered without a template".into())
        })?;
        Ok(AgentFetched {
            template: agent_template(template),
            fetched_bytes: response.fetched_bytes,
            duration_ms: response.duration_ms,
        })
    }

    async fn import_base(&self, request: &super::AgentImport) -> AgentResult<super::AgentImported> {
        let message = pb::ImportBaseRequest {
            debian_suite: request.debian_suite.clone().unwrap_or_default(),
            oci_reference: request.oci_reference.clone().unwrap_or_default(),
            registry_username: request.username.clone(),
            registry_password: request.password.expose().to_owned(),
            insecure_registry: request.insecure_registry,
            ..Default::default()
        };
        let response = reply(self.client.import_base(message).await)?;
        if let Some(failure) = response.failure.into_option() {
            return Ok(super::AgentImported::Failed {
                code: failure.code,
                message: failure.message,
            });
        }
        let template = response.template.into_option().ok_or_else(|| {
            AgentError::Unavailable("the agent answered without a template".into())
        })?;
        let d = response.defaults.into_option().unwrap_or_default();
        Ok(super::AgentImported::Done {
            template: agent_template(template),
            content_key: response.content_key,
            cached: response.cached,
            defaults: super::AgentImageDefaults {
                env: d.env,
                working_dir: d.working_dir,
                user: d.user,
                entrypoint: d.entrypoint,
                cmd: d.cmd,
            },
        })
    }

    async fn delete_template(&self, image: &str) -> AgentResult<()> {
        let message = pb::DeleteTemplateRequest {
            template: image.into(),
            ..Default::default()
        };
        reply(self.client.delete_template(message).await).map(drop)
    }

    async fn prove_identity(&self, challenge: &str) -> AgentResult<String> {
        let message = pb::HostInfoRequest {
            challenge: challenge.into(),
            ..Default::default()
        };
        let response = reply(self.client.host_info(message).await)?;
        Ok(response.identity_proof)
    }

    async fn template_images(&self) -> AgentResult<Vec<AgentTemplateImage>> {
        let response = reply(
            self.client
                .list_templates(pb::ListTemplatesRequest::default())
                .await,
        )?;
        Ok(response
            .templates
            .into_iter()
            .map(|t| AgentTemplateImage {
                image: t.name,
                created_at_ms: i64::try_from(t.created_at_ms).unwrap_or(i64::MAX),
            })
            .collect())
    }

    fn envd(&self, id: &str) -> EnvdRoute {
        EnvdRoute {
            base_url: format!("{}/envd/{id}", self.base_url),
            headers: vec![("x-agent-secret", self.secret.expose().to_owned())],
            transport: self.envd_transport.clone(),
            http: self.envd_http.clone(),
        }
    }

    fn guest_hop(&self) -> Option<GuestHop> {
        Some(self.guest_hop.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_error_when_reply_not_a_typed_refusal_then_not_reflected() {
        // What a metadata service or any web server might answer.
        let reply = "ami-id\ninstance-id\niam/security-credentials/admin";
        for err in [
            ConnectError::new(ErrorCode::Unknown, reply),
            ConnectError::internal(reply),
            ConnectError::unavailable(reply),
            // A 4xx reply that was not Connect, as connectrpc words it.
            ConnectError::new(
                ErrorCode::InvalidArgument,
                format!("HTTP error 400: {reply}"),
            ),
        ] {
            let AgentError::Unavailable(message) = agent_error(err) else {
                panic!("not Unavailable");
            };
            assert!(!message.contains("instance-id"), "{message}");
        }
    }

    #[test]
    fn agent_error_when_our_transport_failed_then_its_description_kept() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = ConnectError::unavailable_from_transport("connecting", refused);
        let AgentError::Unavailable(message) = agent_error(err) else {
            panic!("not Unavailable");
        };
        assert!(message.contains("refused"), "{message}");
    }

    #[test]
    fn agent_error_when_typed_refusal_then_one_short_printable_line() {
        let long = format!("template x\r\nnot found{}", "!".repeat(1000));
        let AgentError::NotFound(message) = agent_error(ConnectError::not_found(long)) else {
            panic!("not NotFound");
        };
        assert!(message.starts_with("template x  not found"), "{message}");
        assert!(message.len() <= MAX_AGENT_MESSAGE);
        assert!(!message.chars().any(char::is_control));
    }
}
