//! `wrenn.agent.v1.AgentService` over the sandbox manager. Handlers parse the
//! request (see [`super::convert`]), call the manager or envd, and map
//! failures through [`super::error::to_connect`]. Exec and file transfers are
//! proxied chunk by chunk; nothing is collected in memory.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use connectrpc::{
    ConnectError, InboundStream, RequestContext, Response, ServiceRequest, ServiceResult,
    ServiceStream,
};
use futures_util::{StreamExt, TryStreamExt};
use wrenn_proto::wrenn::agent::v1::{
    self as pb,
    __buffa::oneof::{exec_response::Event, write_file_request::Part},
    exec_response::{Ended, Started},
};

use super::{convert, error::RpcError, host::HostFacts};
use crate::{
    envd_client::{self, ExecEvent, FileTarget, StreamExecRequest},
    sandbox::{
        config::{MAX_TIMEOUT_SECS, MIN_MEMORY_MIB},
        SandboxError, SandboxId, SandboxInfo, SandboxManager,
    },
    vmm::Vmm,
};

const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// The RPC service; cheap to clone.
pub struct AgentRpc<V: Vmm> {
    manager: SandboxManager<V>,
    host: Arc<HostFacts>,
    http: reqwest::Client,
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
            http: reqwest::Client::new(),
        }
    }

    pub fn manager(&self) -> &SandboxManager<V> {
        &self.manager
    }

    /// The wire view, with envd's token while the sandbox runs.
    fn wire(&self, info: SandboxInfo) -> pb::Sandbox {
        let token = self.manager.envd_endpoint(&info.id).ok().map(|(_, t)| t);
        convert::sandbox(info, token.as_ref())
    }

    fn endpoint(&self, id: &SandboxId) -> Result<(String, String), RpcError> {
        let (url, token) = self.manager.envd_endpoint(id)?;
        Ok((url, token.expose().to_owned()))
    }
}

impl From<SandboxError> for ConnectError {
    fn from(err: SandboxError) -> Self {
        RpcError::from(err).into()
    }
}

fn exec_timeout(secs: u64) -> Result<Duration, RpcError> {
    match secs {
        0 => Ok(DEFAULT_EXEC_TIMEOUT),
        s if s > MAX_TIMEOUT_SECS => Err(RpcError::invalid(
            "timeout_secs",
            format!("must be at most {MAX_TIMEOUT_SECS}"),
        )),
        s => Ok(Duration::from_secs(s)),
    }
}

fn exec_event(event: ExecEvent) -> pb::ExecResponse {
    let event = match event {
        ExecEvent::Started { pid } => Event::Started(Box::new(Started {
            pid,
            ..Default::default()
        })),
        ExecEvent::Stdout(bytes) => Event::Stdout(bytes),
        ExecEvent::Stderr(bytes) => Event::Stderr(bytes),
        ExecEvent::Ended { exit_code, status } => Event::Ended(Box::new(Ended {
            exit_code,
            status,
            ..Default::default()
        })),
    };
    pb::ExecResponse {
        event: Some(event),
        ..Default::default()
    }
}

fn exec_request(req: pb::ExecRequest, token: String) -> Result<StreamExecRequest, RpcError> {
    if req.command.is_empty() {
        return Err(RpcError::invalid("command", "is required"));
    }
    if let Some(name) = req
        .env
        .keys()
        .find(|k| k.is_empty() || k.contains(['=', '\0']))
    {
        return Err(RpcError::invalid(
            "env",
            format!("invalid variable name '{name}'"),
        ));
    }
    let cwd = match req.cwd.as_str() {
        "" => None,
        cwd => Some(convert::guest_path("cwd", cwd)?),
    };
    Ok(StreamExecRequest {
        user: convert::user("user", &req.user)?,
        timeout: exec_timeout(req.timeout_secs)?,
        command: req.command,
        env: req.env.into_iter().collect(),
        cwd,
        access_token: Some(token),
    })
}

// Concrete return types instead of the trait's `impl Encodable`: simpler to read.
#[allow(refining_impl_trait)]
impl<V: Vmm> pb::AgentService for AgentRpc<V> {
    async fn create_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::CreateSandboxRequest>,
    ) -> ServiceResult<pb::CreateSandboxResponse> {
        let request = request.to_owned_message();
        let config = convert::sandbox_config(&request)?;
        let info = match convert::optional_sandbox_id("id", &request.id)? {
            Some(id) => self.manager.create_with_id(id, config).await?,
            None => self.manager.create(config).await?,
        };
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
        self.manager.destroy(&id).await?;
        tracing::info!(sandbox_id = %id, "sandbox destroyed");
        Response::ok(pb::DestroySandboxResponse::default())
    }

    async fn pause_sandbox(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::PauseSandboxRequest>,
    ) -> ServiceResult<pb::PauseSandboxResponse> {
        let id = convert::sandbox_id("id", request.to_owned_message().id.as_str())?;
        let info = self.manager.pause(&id).await?;
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
        let info = self.manager.resume(&id).await?;
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

    async fn exec(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::ExecRequest>,
    ) -> ServiceResult<ServiceStream<pb::ExecResponse>> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let (url, token) = self.endpoint(&id)?;
        let exec = exec_request(req, token)?;
        let events = envd_client::exec_stream(&url, &exec)
            .await
            .map_err(RpcError::from)?;
        Response::stream_ok(
            events
                .map_ok(exec_event)
                .map_err(|e| ConnectError::from(RpcError::from(e))),
        )
    }

    async fn read_file(
        &self,
        _ctx: RequestContext,
        request: ServiceRequest<'_, pb::ReadFileRequest>,
    ) -> ServiceResult<ServiceStream<pb::ReadFileResponse>> {
        let req = request.to_owned_message();
        let id = convert::sandbox_id("id", &req.id)?;
        let path = convert::guest_path("path", &req.path)?;
        let user = convert::user("user", &req.user)?;
        let (url, token) = self.endpoint(&id)?;
        let target = FileTarget {
            envd_base_url: &url,
            access_token: &token,
            path: &path,
            user: &user,
        };
        let chunks = envd_client::read_file(&self.http, &target)
            .await
            .map_err(RpcError::from)?;
        Response::stream_ok(
            chunks
                .map_ok(|data| pb::ReadFileResponse {
                    data: data.to_vec(),
                    ..Default::default()
                })
                .map_err(|e| ConnectError::from(RpcError::from(e))),
        )
    }

    async fn write_file(
        &self,
        _ctx: RequestContext,
        mut requests: InboundStream<pb::WriteFileRequest>,
    ) -> ServiceResult<pb::WriteFileResponse> {
        let first = requests
            .next()
            .await
            .ok_or_else(|| RpcError::invalid("header", "the stream is empty"))??;
        let Some(Part::Header(header)) = first.to_owned_message().part else {
            return Err(RpcError::invalid("header", "the first message must be a header").into());
        };
        let id = convert::sandbox_id("header.id", &header.id)?;
        let path = convert::guest_path("header.path", &header.path)?;
        let user = convert::user("header.user", &header.user)?;
        let (url, token) = self.endpoint(&id)?;
        let written = Arc::new(AtomicU64::new(0));
        let failure: Arc<Mutex<Option<ConnectError>>> = Arc::default();
        let body = {
            let (written, failure) = (Arc::clone(&written), Arc::clone(&failure));
            requests.map(move |item| {
                let part = item.map(|m| m.to_owned_message().part);
                let err = match part {
                    Ok(Some(Part::Data(data))) => {
                        written.fetch_add(data.len() as u64, Ordering::Relaxed);
                        return Ok(Bytes::from(data));
                    }
                    Ok(None) => return Ok(Bytes::new()),
                    Ok(Some(Part::Header(_))) => {
                        RpcError::invalid("header", "only the first message may be a header").into()
                    }
                    Err(err) => err,
                };
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
                Err(std::io::Error::other("upload aborted"))
            })
        };
        let target = FileTarget {
            envd_base_url: &url,
            access_token: &token,
            path: &path,
            user: &user,
        };
        let result = envd_client::write_file(&self.http, &target, body).await;
        if let Some(err) = failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(err);
        }
        result.map_err(RpcError::from)?;
        Response::ok(pb::WriteFileResponse {
            bytes_written: written.load(Ordering::Relaxed),
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
        let info = self
            .manager
            .snapshot_to_template(&id, &template, req.memory)
            .await?;
        Response::ok(pb::SnapshotSandboxResponse {
            template: convert::template(info).into(),
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
        let templates = self
            .manager
            .templates()
            .list()
            .into_iter()
            .map(convert::template)
            .collect();
        Response::ok(pb::ListTemplatesResponse {
            templates,
            ..Default::default()
        })
    }

    async fn host_info(
        &self,
        _ctx: RequestContext,
        _request: ServiceRequest<'_, pb::HostInfoRequest>,
    ) -> ServiceResult<pb::HostInfoResponse> {
        Response::ok(self.host.report(&self.manager))
    }
}
