//! Creating a sandbox: quota, template, placement (the next best host when
//! a host turns out full), a copy of the template when the chosen host
//! lacks it, the record, the host's create, and the undo of a create that
//! failed. Audited either way.
use std::collections::BTreeMap;

use wrenn_types::{Resources, ResourcesError, SandboxId, TemplateRef, TimeoutAction};

use crate::{
    agent::{AgentApi, AgentCreate, AgentError, AgentState},
    audit::{self, Outcome},
    auth::Principal,
    db::{
        self,
        sandboxes::{SandboxRow, TransitionExtras},
        templates::TemplateRow,
    },
    lifecycle::SandboxState,
    scheduler::{self, NoFit, PlaceError},
    service::{pools, template_copies},
    state::AppState,
};

/// What the caller asked for; `None` takes the template's or the
/// deployment's default.
#[derive(Debug, Clone)]
pub struct NewSandbox {
    /// `name` or `name:tag` (a version through its tag).
    pub template: TemplateRef,
    pub vcpus: Option<u32>,
    pub memory_mb: Option<u32>,
    pub disk_mb: Option<u64>,
    pub timeout_secs: Option<u64>,
    pub on_timeout: TimeoutAction,
    pub env_vars: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub internet: bool,
    pub egress_allow: Vec<String>,
    pub egress_deny: Vec<String>,
    /// Host tags the sandbox's host must carry.
    pub tags: Vec<String>,
    /// A request through the sandbox proxy resumes the sandbox when paused.
    pub auto_resume: bool,
    /// User ports reachable without a traffic access token; when false the
    /// create mints one (in the answer's `traffic_access_token`, once).
    pub public_traffic: bool,
}

/// Why no sandbox was created.
#[derive(Debug, thiserror::Error)]
pub enum CreateSandboxError {
    #[error("template '{0}' not found")]
    TemplateNotFound(TemplateRef),
    #[error(
        "the team already has {live} live sandboxes (the limit is {limit}); destroy some first"
    )]
    QuotaExceeded { live: i64, limit: u32 },
    /// The template's defaults with the request's overrides are out of bounds.
    #[error(transparent)]
    Resources(#[from] ResourcesError),
    #[error(transparent)]
    NoFit(#[from] NoFit),
    /// The team's pool has no room for it.
    #[error(transparent)]
    PoolExhausted(#[from] pools::Exhausted),
    /// The chosen hosts refused for lack of room.
    #[error("{0}")]
    HostsFull(#[source] AgentError),
    #[error("the chosen host is not connected")]
    HostNotConnected,
    /// The chosen host lacks the template and could not fetch it.
    #[error(transparent)]
    TemplateCopy(#[from] template_copies::CopyError),
    /// The host created it, but not into `running`.
    #[error("the host reported the new sandbox as {state:?}: {reason}")]
    NotStarted { state: AgentState, reason: String },
    #[error("the host refused: {0}")]
    Host(#[source] AgentError),
    #[error("database")]
    Db(#[from] sqlx::Error),
    /// The create task panicked or was cancelled.
    #[error("the create task failed")]
    Task(#[source] tokio::task::JoinError),
}

impl From<pools::ReserveError> for CreateSandboxError {
    fn from(err: pools::ReserveError) -> Self {
        match err {
            pools::ReserveError::Exhausted(e) => Self::PoolExhausted(e),
            pools::ReserveError::Db(e) => Self::Db(e),
        }
    }
}

impl From<PlaceError> for CreateSandboxError {
    fn from(err: PlaceError) -> Self {
        match err {
            PlaceError::NoFit(why) => Self::NoFit(why),
            PlaceError::Db(e) => Self::Db(e),
        }
    }
}

/// Hosts tried for one create: the scheduler's view of free capacity can
/// be a heartbeat old, so a host that answers "full" is skipped and the
/// next best one tried.
const MAX_PLACEMENTS: usize = 3;

/// Creates a sandbox and returns its record once it is `running`. The work
/// runs in its own task, so a client that goes away cannot leave a
/// half-created sandbox behind.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    request: NewSandbox,
) -> Result<SandboxRow, CreateSandboxError> {
    let (state, principal) = (state.clone(), principal.clone());
    let task = tokio::spawn(async move { place_and_create(&state, &principal, &request).await });
    task.await.map_err(CreateSandboxError::Task)?
}

/// Why one placement attempt failed.
enum Attempt {
    Failed(CreateSandboxError),
    /// The chosen host had no room after all; nothing was kept.
    HostFull {
        host_id: String,
        error: AgentError,
    },
}

macro_rules! attempt_from {
    ($($error:ty),*) => {$(
        impl From<$error> for Attempt {
            fn from(err: $error) -> Self {
                Self::Failed(err.into())
            }
        }
    )*};
}
attempt_from!(
    CreateSandboxError,
    template_copies::CopyError,
    sqlx::Error,
    PlaceError,
    ResourcesError,
    pools::ReserveError
);

async fn place_and_create(
    state: &AppState,
    principal: &Principal,
    request: &NewSandbox,
) -> Result<SandboxRow, CreateSandboxError> {
    let mut full_hosts = Vec::new();
    let mut last_refusal = None;
    loop {
        match create_on_best_host(state, principal, request, &full_hosts).await {
            Ok(sandbox) => return Ok(sandbox),
            // No other host fits: the full host's own answer says more.
            Err(Attempt::Failed(CreateSandboxError::NoFit(why))) => {
                return Err(last_refusal.map_or(CreateSandboxError::NoFit(why), |e| {
                    CreateSandboxError::HostsFull(e)
                }));
            }
            Err(Attempt::Failed(err)) => return Err(err),
            Err(Attempt::HostFull { host_id, error }) => {
                tracing::info!(
                    host_id,
                    "host refused a create for lack of room; trying another"
                );
                full_hosts.push(host_id);
                if full_hosts.len() >= MAX_PLACEMENTS {
                    return Err(CreateSandboxError::HostsFull(error));
                }
                last_refusal = Some(error);
            }
        }
    }
}

/// The template's size with the request's overrides.
fn resources(
    template: &TemplateRow,
    request: &NewSandbox,
) -> Result<Resources, CreateSandboxError> {
    let stored = |value: i64, field: &str| {
        u32::try_from(value).map_err(|_| {
            sqlx::Error::Decode(format!("template {}: {field} {value}", template.name).into())
        })
    };
    let vcpus = match request.vcpus {
        Some(v) => v,
        None => stored(template.vcpus, "vcpus")?,
    };
    let memory_mb = match request.memory_mb {
        Some(m) => m,
        None => stored(template.memory_mb, "memory_mb")?,
    };
    let disk_mb = request
        .disk_mb
        .or_else(|| template.disk_mb.and_then(|d| u64::try_from(d).ok()));
    Ok(Resources::new(vcpus, memory_mb, disk_mb)?)
}

async fn create_on_best_host(
    state: &AppState,
    principal: &Principal,
    request: &NewSandbox,
    full_hosts: &[String],
) -> Result<SandboxRow, Attempt> {
    let template = db::templates::resolve_ref(&state.db, &principal.team_id, &request.template)
        .await?
        .ok_or_else(|| CreateSandboxError::TemplateNotFound(request.template.clone()))?;
    let live = db::sandboxes::count_live(&state.db, &principal.team_id).await?;
    let limit = state.config.max_sandboxes_per_team;
    if live >= i64::from(limit) {
        return Err(CreateSandboxError::QuotaExceeded { live, limit }.into());
    }
    let resources = resources(&template, request)?;
    let spread = template_copies::spread(state, &template).await?;
    let host_id = scheduler::place(
        state,
        &scheduler::Requirements {
            team_id: &principal.team_id,
            vcpus: i64::from(resources.vcpus()),
            memory_mb: i64::from(resources.memory_mb()),
            disk_mb: resources.disk_mb().and_then(|d| i64::try_from(d).ok()),
            tags: &request.tags,
            template_host: spread.only_host(&template),
            template_holders: &spread.holders,
            exclude: full_hosts,
            template_image: Some(template.image.as_str()),
        },
    )
    .await?;
    let agent = state
        .hosts
        .agent(&host_id)
        .await
        .map_err(|_| CreateSandboxError::HostNotConnected)?;
    if spread.can_copy() && !spread.holds(&host_id) {
        // Before any record: a failed copy leaves no sandbox behind.
        template_copies::copy_to(state, &template, &spread, &host_id, agent.as_ref()).await?;
    }
    let timeout_secs = request
        .timeout_secs
        .unwrap_or(state.config.default_timeout_secs);
    let mut row = new_row(
        principal,
        &template,
        request,
        resources,
        &host_id,
        timeout_secs,
    );
    let traffic_token = (!request.public_traffic).then(crate::traffic::token::mint);
    row.traffic_token_hash = traffic_token.as_ref().map(|t| t.hash.clone());
    pools::insert_reserved(&state.db, &state.config, std::slice::from_ref(&row)).await?;
    let starting = TransitionExtras::default();
    db::sandboxes::transition(&state.db, &row.id, SandboxState::Starting, "", starting).await?;
    let call = AgentCreate {
        id: row.id.clone(),
        template_image: row.template_image.clone(),
        resources,
        timeout_secs,
        on_timeout: request.on_timeout,
        env_vars: request.env_vars.clone(),
        metadata: row.metadata.clone(),
        internet: row.internet,
        egress_allow: row.egress_allow.clone(),
        egress_deny: row.egress_deny.clone(),
    };
    match agent.create(call).await {
        Ok(created) if created.state == AgentState::Running => {
            let extras = TransitionExtras {
                started_at: Some(db::now_ms()),
                timeout_at: Some(created.timeout_at_ms),
                from_snapshot: Some(created.from_snapshot),
                cpu_ms: None,
            };
            db::sandboxes::transition(&state.db, &row.id, SandboxState::Running, "", extras)
                .await?;
            let resource = ("sandbox", row.id.as_str());
            let detail = template.name.as_str();
            audit::record(
                &state.db,
                principal,
                "sandbox.create",
                resource,
                Outcome::Ok,
                detail,
            )
            .await;
            let created = db::sandboxes::get(&state.db, &principal.team_id, &row.id).await?;
            // A lookup of the id before it existed may be cached.
            state.routes.invalidate(&row.id);
            // Just written; gone only if destroyed meanwhile.
            let mut created = created.ok_or(sqlx::Error::RowNotFound)?;
            created.traffic_access_token = traffic_token.map(|t| t.token);
            Ok(created)
        }
        Ok(created) => {
            let err = CreateSandboxError::NotStarted {
                state: created.state,
                reason: created.reason,
            };
            fail(state, principal, &row.id, &err.to_string(), agent.as_ref()).await;
            Err(err.into())
        }
        Err(err) => {
            let nothing_created = matches!(
                err,
                AgentError::InvalidArgument(_) | AgentError::Exhausted(_) | AgentError::NotFound(_)
            );
            fail(state, principal, &row.id, &err.to_string(), agent.as_ref()).await;
            if nothing_created {
                // The record goes too, so the list shows no sandbox that
                // never existed.
                db::sandboxes::delete(&state.db, &row.id).await?;
            }
            Err(match err {
                AgentError::NotFound(_) => {
                    CreateSandboxError::TemplateNotFound(request.template.clone()).into()
                }
                AgentError::Exhausted(_) => Attempt::HostFull {
                    host_id: host_id.clone(),
                    error: err,
                },
                other => CreateSandboxError::Host(other).into(),
            })
        }
    }
}

fn new_row(
    principal: &Principal,
    template: &TemplateRow,
    request: &NewSandbox,
    resources: Resources,
    host_id: &str,
    timeout_secs: u64,
) -> SandboxRow {
    let now = db::now_ms();
    SandboxRow {
        id: SandboxId::generate().into(),
        team_id: principal.team_id.clone(),
        host_id: Some(host_id.to_owned()),
        // The name asked for, without the tag: a tagged older version's
        // row is `<name>@<build>`, which is no name to show or group by.
        template: request.template.name.to_string(),
        template_image: template.image.clone(),
        state: SandboxState::Pending,
        reason: String::new(),
        vcpus: i64::from(resources.vcpus()),
        memory_mb: i64::from(resources.memory_mb()),
        disk_mb: resources.disk_mb().and_then(|d| i64::try_from(d).ok()),
        timeout_secs: i64::try_from(timeout_secs).unwrap_or(i64::MAX),
        on_timeout: request.on_timeout,
        metadata: request.metadata.clone(),
        internet: request.internet,
        egress_allow: request.egress_allow.clone(),
        egress_deny: request.egress_deny.clone(),
        from_snapshot: false,
        created_by: principal.audit_actor().1.to_owned(),
        created_at: now,
        started_at: None,
        timeout_at: None,
        updated_at: now,
        auto_resume: request.auto_resume,
        public_traffic: request.public_traffic,
        traffic_token_hash: None,
        traffic_access_token: None,
    }
}

/// Marks a failed create as `error`, audits it, and asks the host to drop
/// whatever it kept of it.
async fn fail(
    state: &AppState,
    principal: &Principal,
    id: &str,
    reason: &str,
    agent: &dyn AgentApi,
) {
    tracing::warn!(sandbox_id = id, reason, "sandbox create failed");
    let extras = TransitionExtras::default();
    if let Err(err) =
        db::sandboxes::transition(&state.db, id, SandboxState::Error, reason, extras).await
    {
        tracing::error!(sandbox_id = id, error = %err, "cannot record the failed create");
    }
    if let Err(err) = agent.destroy(id).await {
        if !matches!(err, AgentError::NotFound(_)) {
            tracing::warn!(sandbox_id = id, error = %err, "cannot clean up the failed sandbox on its host");
        }
    }
    let resource = ("sandbox", id);
    audit::record(
        &state.db,
        principal,
        "sandbox.create",
        resource,
        Outcome::Failed,
        reason,
    )
    .await;
}
