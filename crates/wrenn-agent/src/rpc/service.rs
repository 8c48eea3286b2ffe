//! `wrenn.agent.v1.AgentService` over the sandbox manager. Handlers parse the
//! request (see [`super::convert`]), call the manager or envd, and map
//! failures through [`super::error::to_connect`]. Commands and files inside
//! a sandbox are not RPCs: the control plane reaches envd through the
//! `/envd/{id}/` proxy ([`super::envd_proxy`]).
use std::{sync::Arc, time::Instant};

use connectrpc::{ConnectError, RequestContext, Response, ServiceRequest, ServiceResult};
use wrenn_proto::wrenn::agent::v1 as pb;

use super::{convert, detached, error::RpcError, host::HostFacts};
use crate::{
    sandbox::{
        base_import::{self, BaseSource, DebianSuite, ImportSettings, OciRef, RegistryCredentials},
        config::MIN_MEMORY_MIB,
        template_fetch::{self, FetchSource},
        template_manifest::{self, Manifest},
        ForkRequest, SandboxError, SandboxId, SandboxInfo, SandboxManager, TemplateName,
    },
    vmm::Vmm,
};

/// The RPC service; cheap to clone.
pub struct AgentRpc<V: Vmm> {
    manager: SandboxManager<V>,
    host: Arc<HostFacts>,
    /// Answers the control plane's identity challenges (HostInfo).
    identity: Option<super::Secret>,
    /// Fetches template images from other agents.
    fetch_http: reqwest::Client,
}

impl<V: Vmm> std::fmt::Debug for AgentRpc<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRpc")
            .field("manager", &self.manager)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl<V: Vmm> AgentRpc<V> {
    pub fn new(manager: SandboxManager<V>, host: HostFacts) -> Self {
        Self {
            manager,
            host: Arc::new(host),
            identity: None,
            // Agent to agent, never through an HTTP proxy of the environment.
            fetch_http: reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Proves this agent holds `secret` to whoever challenges it.
    pub fn with_identity(mut self, secret: super::Secret) -> Self {
        self.identity = Some(secret);
        self
    }

    pub fn manager(&self) -> &SandboxManager<V> {
        &self.manager
    }

    /// The manifest of a template here (hashed on first use, then kept).
    async fn manifest_of(&self, template: &TemplateName) -> Result<Option<Manifest>, SandboxError> {
        let (catalog, name) = (self.manager.templates(), template.clone());
        let found = tokio::task::spawn_blocking(move || {
            template_fetch::local_manifest(&catalog, &name).transpose()
        })
        .await
        .map_err(|e| SandboxError::TemplateSnapshotFailed {
            template: template.to_string(),
            reason: format!("hash task: {e}"),
        })?;
        found.map_err(|e| SandboxError::storage(std::path::Path::new(template.as_str()), e))
    }

    /// The wire view, with envd's token while the sandbox runs.
    fn wire(&self, info: SandboxInfo) -> pb::Sandbox {
        let token = self.manager.envd_endpoint(&info.id).ok().map(|(_, t)| t);
        convert::sandbox(info, token.as_ref())
    }
}

impl From<SandboxError> for ConnectError {
    fn from(err: SandboxError) -> Self {
        RpcError::from(err).into()
    }
}

#[expect(
    refining_impl_trait,
    reason = "handlers return the concrete response message where the generated \
              trait says `impl Encodable<_>`; callers only use the trait"
)]
impl<V: Vmm> pb::AgentService for AgentRpc<V> {
    async fn create_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::CreateSandboxRequest>,
    ) -> ServiceResult<pb::CreateSandboxResponse> {
        let request = request.to_owned_message();
        let config = convert::sandbox_config(&request)?;
        let id =
            convert::optional_sandbox_id("id", &request.id)?.unwrap_or_else(SandboxId::generate);
        // Detached: a caller that goes away cannot stop it half-way, and
        // what nobody is left to record is destroyed.
        let info = detached::create(&self.manager, id, config).await?;
        tracing::info!(sandbox_id = %info.id, template = %info.template, "sandbox created");
        Response::ok(pb::CreateSandboxResponse {
            sandbox: self.wire(info).into(),
            ..Default::default()
        })
    }

    async fn get_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::GetSandboxRequest>,
    ) -> ServiceResult<pb::GetSandboxResponse> {
        let id = convert::sandbox_id("id", request.to_owned_message().id.as_str())?;
        let info = self.manager.get(&id)?;
        Response::ok(pb::GetSandboxResponse {
            sandbox: self.wire(info).into(),
            ..Default::default()
        })
    }

    async fn list_sandboxes(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, pb::ListSandboxesRequest>,
    ) -> ServiceResult<pb::ListSandboxesResponse> {
        let sandboxes = self
            .manager
            .list()
            .into_iter()
            .map(|info| self.wire(info))
            .collect();
        Response::ok(pb::ListSandboxesResponse {
            sandboxes,
            ..Default::default()
        })
    }

    async fn destroy_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::DestroySandboxRequest>,
    ) -> ServiceResult<pb::DestroySandboxResponse> {
        let id = convert::sandbox_id("id", request.to_owned_message().id.as_str())?;
        let manager = self.manager.clone();
        let task_id = id.clone();
        let cpu_usage_ms =
            detached::run(&id, async move { manager.destroy_metered(&task_id).await }).await?;
        tracing::info!(sandbox_id = %id, "sandbox destroyed");
        Response::ok(pb::DestroySandboxResponse {
            cpu_usage_ms,
            ..Default::default()
        })
    }

    async fn pause_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::PauseSandboxRequest>,
    ) -> ServiceResult<pb::PauseSandboxResponse> {
        let request = request.to_owned_message();
        let id = convert::sandbox_id("id", request.id.as_str())?;
        let manager = self.manager.clone();
        let task_id = id.clone();
        let disk_only = request.disk_only;
        let info = detached::run(&id, async move {
            if disk_only {
                manager.pause_disk_only(&task_id).await
            } else {
                manager.pause(&task_id).await
            }
        })
        .await?;
        Response::ok(pb::PauseSandboxResponse {
            sandbox: self.wire(info).into(),
            ..Default::default()
        })
    }

    async fn resume_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::ResumeSandboxRequest>,
    ) -> ServiceResult<pb::ResumeSandboxResponse> {
        let id = convert::sandbox_id("id", request.to_owned_message().id.as_str())?;
        let manager = self.manager.clone();
        let task_id = id.clone();
        let info = detached::run(&id, async move { manager.resume(&task_id).await }).await?;
        Response::ok(pb::ResumeSandboxResponse {
            sandbox: self.wire(info).into(),
            ..Default::default()
        })
    }

    async fn set_timeout(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::SetTimeoutRequest>,
    ) -> ServiceResult<pb::SetTimeoutResponse> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let info = self.manager.set_timeout(&id, req.timeout_secs)?;
        Response::ok(pb::SetTimeoutResponse {
            sandbox: self.wire(info).into(),
            ..Default::default()
        })
    }

    async fn warm_template(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::WarmTemplateRequest>,
    ) -> ServiceResult<pb::WarmTemplateResponse> {
        let req = request.to_owned_message();
        let template = convert::template_name("template", &req.template)?;
        let vcpus = convert::vcpus("vcpus", req.vcpus)?;
        let limits = self.manager.options().limits;
        if vcpus == 0 || vcpus > limits.max_vcpus {
            let message = format!("must be between 1 and {}", limits.max_vcpus);
            return Err(RpcError::invalid("vcpus", message).into());
        }
        if req.memory_mib < MIN_MEMORY_MIB || req.memory_mib > limits.max_memory_mib {
            let message = format!(
                "must be between {MIN_MEMORY_MIB} and {}",
                limits.max_memory_mib
            );
            return Err(RpcError::invalid("memory_mib", message).into());
        }
        let started = Instant::now();
        self.manager
            .warm_template(&template, vcpus, req.memory_mib)
            .await?;
        Response::ok(pb::WarmTemplateResponse {
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..Default::default()
        })
    }

    async fn snapshot_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::SnapshotSandboxRequest>,
    ) -> ServiceResult<pb::SnapshotSandboxResponse> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let template = convert::template_name("template", &req.template)?;
        let start = convert::template_start(req.start.as_option())?;
        let info = self
            .manager
            .snapshot_to_template(&id, &template, req.memory, start)
            .await?;
        // The content address, so that other hosts can fetch and verify it;
        // without one the template still works here.
        let manifest = self.manifest_of(&template).await.unwrap_or_else(|err| {
            tracing::warn!(%template, error = %err, "cannot hash the new template image");
            None
        });
        Response::ok(pb::SnapshotSandboxResponse {
            template: convert::template_with(info, manifest.as_ref()).into(),
            ..Default::default()
        })
    }

    async fn delete_template(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::DeleteTemplateRequest>,
    ) -> ServiceResult<pb::DeleteTemplateResponse> {
        let req = request.to_owned_message();
        let template = convert::template_name("template", &req.template)?;
        self.manager.delete_template(&template)?;
        Response::ok(pb::DeleteTemplateResponse::default())
    }

    async fn list_templates(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, pb::ListTemplatesRequest>,
    ) -> ServiceResult<pb::ListTemplatesResponse> {
        let catalog = self.manager.templates();
        // Digests already computed are reported; none is computed here.
        let templates = catalog
            .list()
            .into_iter()
            .map(|info| {
                let kept = catalog
                    .version_dir(&info.name)
                    .and_then(|dir| template_manifest::cached(&dir));
                convert::template_with(info, kept.as_ref())
            })
            .collect();
        Response::ok(pb::ListTemplatesResponse {
            templates,
            ..Default::default()
        })
    }

    async fn fork_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::ForkSandboxRequest>,
    ) -> ServiceResult<pb::ForkSandboxResponse> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let copies = req
            .copy_ids
            .iter()
            .map(|copy| convert::sandbox_id("copy_ids", copy))
            .collect::<Result<Vec<_>, _>>()?;
        let request = ForkRequest {
            copies,
            timeout_secs: req.timeout_secs,
        };
        let copies = detached::fork(&self.manager, id.clone(), request).await?;
        tracing::info!(sandbox_id = %id, copies = copies.len(), "sandbox forked");
        Response::ok(pb::ForkSandboxResponse {
            copies: copies.into_iter().map(|info| self.wire(info)).collect(),
            ..Default::default()
        })
    }

    async fn update_egress(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::UpdateEgressRequest>,
    ) -> ServiceResult<pb::UpdateEgressResponse> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let egress = convert::egress(req.egress.as_option());
        let manager = self.manager.clone();
        let task_id = id.clone();
        let info = detached::run(
            &id,
            async move { manager.update_egress(&task_id, egress).await },
        )
        .await?;
        Response::ok(pb::UpdateEgressResponse {
            sandbox: self.wire(info).into(),
            ..Default::default()
        })
    }

    async fn get_metrics(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::GetMetricsRequest>,
    ) -> ServiceResult<pb::GetMetricsResponse> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let samples = self
            .manager
            .metrics_history(&id, req.start_ms, req.end_ms)?
            .into_iter()
            .map(|s| pb::MetricsSample {
                at_ms: s.at_ms,
                json: s.metrics.to_string(),
                ..Default::default()
            })
            .collect();
        Response::ok(pb::GetMetricsResponse {
            samples,
            ..Default::default()
        })
    }

    async fn fetch_template(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::FetchTemplateRequest>,
    ) -> ServiceResult<pb::FetchTemplateResponse> {
        let req = request.to_owned_message();
        let template = convert::template_name("template", &req.template)?;
        if req.digest.len() != 64 {
            return Err(RpcError::invalid("digest", "must be 64 hex digits").into());
        }
        let source = FetchSource {
            base_url: req.source_url.clone(),
            grant: req.grant.clone(),
        };
        let (http, catalog, task_template) = (
            self.fetch_http.clone(),
            self.manager.templates(),
            template.clone(),
        );
        // Its own task: a caller that goes away must not stop a copy half-way
        // (the staging directory would still go, but the work would be lost).
        let fetched = tokio::spawn(async move {
            template_fetch::fetch(&http, &catalog, &task_template, &req.digest, &source).await
        })
        .await
        .map_err(|e| ConnectError::internal(format!("fetch task: {e}")))?
        .map_err(RpcError::from)?;
        let info = self
            .manager
            .templates()
            .info(&template)
            .ok_or_else(|| SandboxError::UnknownTemplate(template.to_string()))?;
        Response::ok(pb::FetchTemplateResponse {
            template: convert::template_with(info, Some(&fetched.manifest)).into(),
            fetched_bytes: fetched.bytes,
            duration_ms: fetched.duration_ms,
            ..Default::default()
        })
    }

    async fn import_base(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::ImportBaseRequest>,
    ) -> ServiceResult<pb::ImportBaseResponse> {
        let req = request.to_owned_message();
        let source = base_source(&req)?;
        let catalog = self.manager.templates();
        let settings = ImportSettings::from_env();
        // Its own task: a caller that goes away must not stop an import
        // half-way (its work directory would go, but the work be lost).
        let imported =
            tokio::spawn(async move { base_import::import(&catalog, &source, &settings).await })
                .await
                .map_err(|e| ConnectError::internal(format!("import task: {e}")))?;
        let imported = match imported {
            Ok(imported) => imported,
            Err(err) => {
                let message = if err.is_public() {
                    err.to_string()
                } else {
                    tracing::error!(error = %error_chain(&err), "base import failed");
                    "the base could not be imported on this host; see the agent log".into()
                };
                return Response::ok(pb::ImportBaseResponse {
                    failure: pb::ImportBaseFailure {
                        code: err.code().into(),
                        message,
                        ..Default::default()
                    }
                    .into(),
                    ..Default::default()
                });
            }
        };
        let info = self
            .manager
            .templates()
            .info(&imported.template)
            .ok_or_else(|| SandboxError::UnknownTemplate(imported.template.to_string()))?;
        let d = imported.defaults;
        Response::ok(pb::ImportBaseResponse {
            template: convert::template_with(info, None).into(),
            content_key: imported.content_key,
            cached: imported.cached,
            defaults: pb::ImageDefaults {
                env: d.env,
                working_dir: d.working_dir,
                user: d.user,
                entrypoint: d.entrypoint,
                cmd: d.cmd,
                ..Default::default()
            }
            .into(),
            ..Default::default()
        })
    }

    async fn host_info(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::HostInfoRequest>,
    ) -> ServiceResult<pb::HostInfoResponse> {
        let mut report = self.host.report(&self.manager);
        let challenge = request.to_owned_message().challenge;
        if let (false, Some(secret)) = (challenge.is_empty(), &self.identity) {
            report.identity_proof =
                wrenn_types::host_wire::identity_proof(secret.expose(), &challenge);
        }
        Response::ok(report)
    }
}

/// The import a request asks for, checked at the edge.
fn base_source(req: &pb::ImportBaseRequest) -> Result<BaseSource, RpcError> {
    match (req.debian_suite.is_empty(), req.oci_reference.is_empty()) {
        (false, true) => DebianSuite::parse(&req.debian_suite)
            .map(BaseSource::Debian)
            .ok_or_else(|| {
                RpcError::invalid(
                    "debian_suite",
                    format!(
                        "'{}' is not one of {}",
                        req.debian_suite,
                        base_import::source::DEBIAN_SUITES.join(", ")
                    ),
                )
            }),
        (true, false) => {
            let image = OciRef::parse(&req.oci_reference).ok_or_else(|| {
                RpcError::invalid(
                    "oci_reference",
                    format!("'{}' is not an image reference", req.oci_reference),
                )
            })?;
            let credentials = (!req.registry_username.is_empty()).then(|| RegistryCredentials {
                username: req.registry_username.clone(),
                password: req.registry_password.clone(),
            });
            Ok(BaseSource::Oci {
                image,
                credentials,
                insecure: req.insecure_registry,
            })
        }
        _ => Err(RpcError::invalid(
            "debian_suite",
            "give exactly one of debian_suite and oci_reference",
        )),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
