//! The build runner: one task per build on the replica that received it.
//! It claims the queued record, holds its lease ([`lease`]), works out the
//! longest cached prefix of the plan, boots a build VM only when a step is
//! left to run (or a memory snapshot with a start command is wanted), runs
//! the steps ([`steps`]), snapshots every disk step into its cache entry
//! and registers the version and its tags in one transaction at the end.
//! Whatever ends the build (failure, cancel, lease loss, shutdown), the
//! build VM is destroyed and the context file removed ([`cleanup`]).
mod base;
mod lease;
mod logs;
mod steps;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use tokio::sync::watch;
use wrenn_types::{Resources, SandboxId, TimeoutAction};

use super::{
    cache_key::{CacheKey, VersionInput},
    context::Context,
    dockerfile::{BaseRef, Dockerfile},
    plan::{BuildPlan, StepAction},
    registry_auth::RegistryAuth,
    settings::BuildSettings,
};
use crate::{
    agent::{AgentApi, AgentCreate, AgentError, AgentStart, AgentState},
    db::{
        self,
        template_builds::{BuildError, BuildStatus, Progress},
        templates::{TemplateRow, Version},
    },
    scheduler,
    service::template_copies,
    state::AppState,
};
pub use lease::Stop;
use logs::Logs;

/// How long a claim holds without renewal, and how often it is renewed.
pub const LEASE: Duration = Duration::from_secs(30);
/// Often, so that a cancel is seen within seconds.
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// The build VM's inactivity timeout: only a runner that died leaves one
/// to it (the lease sweeper destroys it sooner).
const VM_TIMEOUT_SECS: u64 = 6 * 3600;
/// Longest one `RUN` may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// This replica's name as a lease owner.
fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| format!("cp-{}", crate::auth::random_token(12).to_lowercase()))
}

/// Builds running on this replica: their stop signals (for shutdown).
fn running() -> &'static Mutex<HashMap<String, watch::Sender<Stop>>> {
    static RUNNING: OnceLock<Mutex<HashMap<String, watch::Sender<Stop>>>> = OnceLock::new();
    RUNNING.get_or_init(Mutex::default)
}

/// What a build needs besides its record.
#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub tag: String,
    pub plan: BuildPlan,
    pub base: JobBase,
    pub ready_command: Option<String>,
    pub vcpus: u32,
    pub memory_mb: u32,
}

/// A build's `FROM`.
#[derive(Debug)]
pub enum JobBase {
    /// A Wrenn template, resolved at submission.
    Template(TemplateRow),
    /// `debian:<suite>` or an OCI image, imported when the build starts
    /// ([`base`]); then a `Template`.
    Import(BaseImport),
}

/// What importing a base needs, and what planning again over it needs.
#[derive(Debug)]
pub struct BaseImport {
    pub base: BaseRef,
    pub file: Dockerfile,
    pub build_args: BTreeMap<String, String>,
    /// Only in memory, for this build's pull.
    pub registry_auth: Option<RegistryAuth>,
    pub insecure_registry: bool,
}

impl Job {
    /// The base template; after [`base::prepare`] always there.
    fn base_row(&self) -> Result<&TemplateRow, Failure> {
        match &self.base {
            JobBase::Template(row) => Ok(row),
            JobBase::Import(_) => Err(Failure::failed("internal", "the base was not imported")),
        }
    }
}

/// Starts a submitted build in its own task.
pub fn spawn(state: AppState, job: Job) -> tokio::task::JoinHandle<()> {
    let (stop_tx, stop_rx) = watch::channel(Stop::None);
    lock(running()).insert(job.id.clone(), stop_tx.clone());
    tokio::spawn(async move {
        let id = job.id.clone();
        run(&state, job, stop_tx, stop_rx).await;
        lock(running()).remove(&id);
        BuildSettings::get().remove_context(&id);
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every build of this replica (the control plane is stopping) and
/// waits, bounded, for them to clean up.
pub async fn shutdown() {
    for stop in lock(running()).values() {
        let _ = stop.send(Stop::Shutdown);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while !lock(running()).is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Ends builds whose lease expired (their replica died) and destroys the
/// build VMs they recorded; every 15 s.
pub fn spawn_sweeper(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = sweep(&state).await {
                tracing::warn!(error = %err, "cannot sweep expired builds");
            }
        }
    })
}

pub async fn sweep(state: &AppState) -> Result<usize, sqlx::Error> {
    let ended = db::template_builds::expire_leases(&state.db, db::now_ms()).await?;
    for build in &ended {
        tracing::warn!(build_id = build.id, "build lost its runner");
        if let (Some(sandbox), Some(host)) = (&build.sandbox_id, &build.host_id) {
            if let Ok(agent) = state.hosts.agent(host).await {
                destroy_vm(agent.as_ref(), sandbox).await;
            }
        }
    }
    Ok(ended.len())
}

async fn destroy_vm(agent: &dyn AgentApi, sandbox_id: &str) {
    match agent.destroy(sandbox_id).await {
        Ok(()) | Err(AgentError::NotFound(_)) => {}
        Err(err) => {
            tracing::warn!(sandbox_id, error = %err, "cannot destroy a build VM");
        }
    }
}

/// Why a build did not succeed.
#[derive(Debug)]
pub(super) enum Failure {
    /// Recorded as `failed` with this error.
    Failed(BuildError),
    Stopped(Stop),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Failure::Db(err)
    }
}

impl Failure {
    pub(super) fn failed(code: &str, message: impl Into<String>) -> Failure {
        Failure::Failed(BuildError {
            code: code.into(),
            message: message.into(),
            line: None,
            exit_code: None,
        })
    }
}

/// The build VM while it exists.
pub(super) struct Vm {
    pub sandbox_id: String,
    pub host_id: String,
    pub agent: Arc<dyn AgentApi>,
}

/// A running build's working state.
pub(super) struct Run<'a> {
    pub state: &'a AppState,
    pub job: &'a Job,
    pub logs: Logs,
    pub stop: watch::Receiver<Stop>,
    pub vm: Option<Vm>,
    pub context: Option<Context>,
    pub steps_done: i64,
    pub steps_cached: i64,
    /// Working directories made so far.
    pub made_dirs: Vec<String>,
}

async fn run(
    state: &AppState,
    mut job: Job,
    stop_tx: watch::Sender<Stop>,
    stop_rx: watch::Receiver<Stop>,
) {
    let until = db::now_ms() + millis(LEASE);
    match db::template_builds::claim(&state.db, &job.id, owner(), until).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::error!(build_id = job.id, error = %err, "cannot claim a build");
            return;
        }
    }
    let renewer = lease::spawn(state.db.clone(), job.id.clone(), owner(), stop_tx);
    let started = Instant::now();
    let mut logs = Logs::new(state.db.clone(), job.id.clone());
    let prepared = base::prepare(state, &mut job, &mut logs, stop_rx.clone()).await;
    let mut run = Run {
        state,
        job: &job,
        logs,
        stop: stop_rx,
        vm: None,
        context: None,
        steps_done: 0,
        steps_cached: 0,
        made_dirs: Vec::new(),
    };
    let outcome = match prepared {
        Ok(()) => run.execute().await,
        Err(failure) => Err(failure),
    };
    if let Some(vm) = run.vm.take() {
        destroy_vm(vm.agent.as_ref(), &vm.sandbox_id).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (status, error, template_id) = match outcome {
        Ok(template_id) => {
            let line = format!(
                "built {}:{} ({template_id}) in {elapsed:.1}s",
                job.name, job.tag
            );
            run.logs.system(0, line);
            (BuildStatus::Succeeded, None, Some(template_id))
        }
        Err(Failure::Failed(error)) => {
            run.logs.system(0, format!("error: {}", error.message));
            (BuildStatus::Failed, Some(error), None)
        }
        Err(Failure::Stopped(Stop::Cancel)) => {
            run.logs.system(0, "cancelled".into());
            (BuildStatus::Cancelled, None, None)
        }
        Err(Failure::Stopped(Stop::Lost)) => {
            renewer.abort();
            return;
        }
        Err(Failure::Stopped(_)) => {
            let error = BuildError {
                code: "build_interrupted".into(),
                message: "the control plane stopped during the build".into(),
                ..BuildError::default()
            };
            (BuildStatus::Failed, Some(error), None)
        }
        Err(Failure::Db(err)) => {
            tracing::error!(build_id = job.id, error = %err, "build failed on the database");
            let error = BuildError {
                code: "internal".into(),
                message: "the build failed on an internal error".into(),
                ..BuildError::default()
            };
            (BuildStatus::Failed, Some(error), None)
        }
    };
    run.logs.flush().await;
    renewer.abort();
    let finished = db::template_builds::finish(
        &state.db,
        &job.id,
        owner(),
        status,
        error.as_ref(),
        template_id.as_deref(),
    )
    .await;
    if let Err(err) = finished {
        tracing::error!(build_id = job.id, error = %err, "cannot record the build's end");
    }
    if status == BuildStatus::Succeeded {
        evict(state, &job.team_id).await;
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Run<'_> {
    fn total(&self) -> usize {
        self.job.plan.steps.len()
    }

    fn stopped(&self) -> Result<(), Failure> {
        match *self.stop.borrow() {
            Stop::None => Ok(()),
            other => Err(Failure::Stopped(other)),
        }
    }

    async fn progress(&mut self, step: usize) -> Result<(), Failure> {
        let text = self.job.plan.steps[step].text.clone();
        let p = Progress {
            current_step: i64::try_from(step + 1).unwrap_or(i64::MAX),
            current_step_text: &text,
            steps_done: self.steps_done,
            steps_cached: self.steps_cached,
            sandbox_id: self.vm.as_ref().map(|v| v.sandbox_id.as_str()),
            host_id: self.vm.as_ref().map(|v| v.host_id.as_str()),
        };
        if db::template_builds::progress(&self.state.db, &self.job.id, owner(), &p).await? {
            Ok(())
        } else {
            Err(Failure::Stopped(Stop::Lost))
        }
    }

    async fn execute(&mut self) -> Result<String, Failure> {
        let job = self.job;
        let settings = BuildSettings::get();
        if let Some(bytes) = settings.read_context(&job.id) {
            self.context = Some(
                Context::read(&bytes)
                    .map_err(|e| Failure::failed("invalid_context", e.to_string()))?,
            );
        }
        for arg in &job.plan.unused_build_args {
            self.logs.system(
                0,
                format!("warning: build argument {arg} is not declared by any ARG"),
            );
        }
        // Every disk step's key, in order.
        let mut keys: Vec<Option<CacheKey>> = Vec::new();
        let mut parent = CacheKey::root(&job.base_row()?.image);
        for step in &job.plan.steps {
            let content = match &step.action {
                StepAction::Copy { sources, .. } => Some(self.content_hash(step.line, sources)?),
                _ => None,
            };
            match step.key_input(content.as_ref()) {
                Some(input) => {
                    parent = parent.child(&input);
                    keys.push(Some(parent));
                }
                None => keys.push(None),
            }
        }
        // The longest cached prefix: the last disk step with an entry.
        let mut cached: Option<(usize, TemplateRow)> = None;
        for (i, key) in keys.iter().enumerate().rev() {
            let Some(key) = key else { continue };
            let Some(template_id) =
                db::build_cache::lookup(&self.state.db, &job.team_id, &key.to_hex()).await?
            else {
                continue;
            };
            if let Some(row) = db::templates::by_id(&self.state.db, &template_id).await? {
                cached = Some((i, row));
                break;
            }
        }
        let total = self.total();
        let mut from = job.base_row()?.clone();
        let mut last_disk: Option<TemplateRow> = None;
        let first_to_run = match &cached {
            Some((i, row)) => {
                for (n, step) in job.plan.steps.iter().enumerate().take(i + 1) {
                    self.logs
                        .system(n + 1, format!("[{}/{total}] {}", n + 1, step.text));
                    if keys[n].is_some() {
                        self.logs
                            .system(n + 1, format!("[{}/{total}] CACHED", n + 1));
                        self.steps_cached += 1;
                    }
                    self.steps_done += 1;
                }
                self.progress(*i).await?;
                from = row.clone();
                last_disk = Some(row.clone());
                i + 1
            }
            None => 0,
        };
        for (n, key) in keys.iter().enumerate().skip(first_to_run) {
            self.stopped()?;
            let step = &job.plan.steps[n];
            let started = Instant::now();
            self.logs
                .system(n + 1, format!("[{}/{total}] {}", n + 1, step.text));
            self.progress(n).await?;
            if let Some(key) = key {
                self.boot(&from).await?;
                self.run_step(n).await?;
                let row = self.snapshot_step(n, key).await?;
                from = row.clone();
                last_disk = Some(row);
            }
            self.steps_done += 1;
            let secs = started.elapsed().as_secs_f64();
            self.logs
                .system(n + 1, format!("[{}/{total}] done in {secs:.1}s", n + 1));
        }
        self.stopped()?;
        self.progress(total - 1).await?;
        let version = self.final_version(&from, last_disk, &parent).await?;
        self.stopped()?;
        Ok(version)
    }

    fn content_hash(&self, line: u32, sources: &[String]) -> Result<[u8; 32], Failure> {
        let Some(context) = &self.context else {
            return Err(Failure::Failed(BuildError {
                code: "missing_context_file".into(),
                message: format!("line {line}: COPY needs a build context, and none was sent"),
                line: Some(i64::from(line)),
                exit_code: None,
            }));
        };
        context.content_hash(sources).map_err(|e| {
            Failure::Failed(BuildError {
                code: "missing_context_file".into(),
                message: format!("line {line}: {e}"),
                line: Some(i64::from(line)),
                exit_code: None,
            })
        })
    }

    /// Boots the build VM from `template` unless one runs already.
    async fn boot(&mut self, template: &TemplateRow) -> Result<(), Failure> {
        if self.vm.is_some() {
            return Ok(());
        }
        let job = self.job;
        let resources = Resources::new(
            job.vcpus,
            job.memory_mb,
            template.disk_mb.and_then(|d| u64::try_from(d).ok()),
        )
        .map_err(|e| Failure::failed("invalid_resources", e.to_string()))?;
        // The base, or a cached step, may live on another host: the
        // scheduler prefers its holders and copies it where it must.
        let spread = template_copies::spread(self.state, template).await?;
        let host_id = scheduler::place(
            self.state,
            &scheduler::Requirements {
                team_id: &job.team_id,
                vcpus: i64::from(job.vcpus),
                memory_mb: i64::from(job.memory_mb),
                disk_mb: template.disk_mb,
                tags: &[],
                template_host: spread.only_host(template),
                template_holders: &spread.holders,
                exclude: &[],
                template_image: Some(template.image.as_str()),
            },
        )
        .await
        .map_err(|e| match e {
            scheduler::PlaceError::NoFit(why) => Failure::failed("no_capacity", why.to_string()),
            scheduler::PlaceError::Db(e) => Failure::Db(e),
        })?;
        let agent = self
            .state
            .hosts
            .agent(&host_id)
            .await
            .map_err(|e| Failure::failed("agent_unavailable", e.to_string()))?;
        if spread.can_copy() && !spread.holds(&host_id) {
            template_copies::copy_to(self.state, template, &spread, &host_id, agent.as_ref())
                .await
                .map_err(|e| match e {
                    template_copies::CopyError::Db(e) => Failure::Db(e),
                    other => Failure::failed("template_copy_failed", other.to_string()),
                })?;
        }
        let sandbox_id: String = SandboxId::generate().into();
        // Recorded before the host hears of it, so the reconciler never
        // takes the build VM for an orphan.
        self.vm = Some(Vm {
            sandbox_id: sandbox_id.clone(),
            host_id: host_id.clone(),
            agent: agent.clone(),
        });
        let step = usize::try_from(self.steps_done)
            .unwrap_or(0)
            .min(self.total() - 1);
        self.progress(step).await?;
        self.logs.system(
            0,
            format!(
                "starting the build VM from {} on host {host_id}",
                template.name
            ),
        );
        let create = AgentCreate {
            id: sandbox_id,
            template_image: template.image.clone(),
            resources,
            timeout_secs: VM_TIMEOUT_SECS,
            on_timeout: TimeoutAction::Kill,
            env_vars: BTreeMap::new(),
            metadata: BTreeMap::from([("wrenn.build".to_owned(), job.id.clone())]),
            internet: true,
            egress_allow: Vec::new(),
            egress_deny: Vec::new(),
        };
        let created = tokio::select! {
            created = agent.create(create) => created,
            stop = wait_stop(self.stop.clone()) => return Err(Failure::Stopped(stop)),
        };
        match created {
            Ok(sandbox) if sandbox.state == AgentState::Running => Ok(()),
            Ok(sandbox) => Err(Failure::failed(
                "build_vm_failed",
                format!("the build VM did not start: {}", sandbox.reason),
            )),
            Err(err) => Err(Failure::failed(
                "build_vm_failed",
                format!("the build VM did not start: {err}"),
            )),
        }
    }

    fn vm(&self) -> Result<&Vm, Failure> {
        self.vm
            .as_ref()
            .ok_or_else(|| Failure::failed("internal", "no build VM"))
    }

    /// Snapshots the disk after step `n` into its cache entry (a hidden
    /// `~cache-<key>` template); answers that template.
    async fn snapshot_step(&mut self, n: usize, key: &CacheKey) -> Result<TemplateRow, Failure> {
        let image = new_image();
        let made = {
            let vm = self.vm()?;
            vm.agent
                .snapshot(&vm.sandbox_id, &image, false, None)
                .await
                .map_err(|e| Failure::failed("snapshot_failed", format!("step {}: {e}", n + 1)))?
        };
        let vm = self.vm()?;
        let row = TemplateRow {
            id: db::new_id("tpl_"),
            team_id: Some(self.job.team_id.clone()),
            name: format!("~cache-{}", key.to_hex()),
            image: made.image.clone(),
            builtin: false,
            vcpus: i64::from(self.job.vcpus),
            memory_mb: i64::from(self.job.memory_mb),
            disk_mb: i64::try_from(made.disk_mb).ok(),
            has_memory_snapshot: false,
            source_sandbox_id: None,
            created_at: db::now_ms(),
            host_id: Some(vm.host_id.clone()),
        };
        match db::templates::insert_hidden(&self.state.db, &row).await {
            Ok(()) => {
                template_copies::record_made(self.state, &row.id, &vm.host_id, &made).await;
                db::build_cache::insert(&self.state.db, &self.job.team_id, &key.to_hex(), &row.id)
                    .await?;
                Ok(row)
            }
            Err(err) if db::is_unique_violation(&err) => {
                // Another build stored the same step meanwhile: use ours
                // for this build only, then drop it.
                let _ = vm.agent.delete_template(&row.image).await;
                match db::templates::by_name(&self.state.db, &self.job.team_id, &row.name).await? {
                    Some(theirs) => Ok(theirs),
                    None => Err(Failure::Db(err)),
                }
            }
            Err(err) => {
                let _ = vm.agent.delete_template(&row.image).await;
                Err(Failure::Db(err))
            }
        }
    }

    /// Registers the version: a memory snapshot with the start spec when
    /// there is a start command; else the last disk step's snapshot (no
    /// VM needed when it was cached); else a fresh disk snapshot. A fresh
    /// snapshot is cached under `parent`'s version key (`parent`: the last
    /// disk step's key, or the root), so an unchanged build registers it
    /// again without booting a VM.
    async fn final_version(
        &mut self,
        from: &TemplateRow,
        last_disk: Option<TemplateRow>,
        parent: &CacheKey,
    ) -> Result<String, Failure> {
        let job = self.job;
        let start = job
            .plan
            .start
            .start_command
            .as_ref()
            .map(|command| AgentStart {
                start_command: command.clone(),
                ready_command: job
                    .ready_command
                    .clone()
                    .or_else(|| job.plan.start.ready_command.clone())
                    .unwrap_or_default(),
                user: job.plan.start.user.clone().unwrap_or_default(),
                workdir: job.plan.start.workdir.clone().unwrap_or_default(),
                env: job.plan.start.env.clone(),
                ready_timeout_secs: 0,
            });
        if start.is_none() {
            if let Some(row) = last_disk.filter(|r| promotable(r, &job.name)) {
                return self.register_existing(&row.id).await;
            }
        }
        let version_key = parent
            .version(&VersionInput {
                start_command: start.as_ref().map(|s| s.start_command.as_str()),
                ready_command: start.as_ref().map_or("", |s| s.ready_command.as_str()),
                user: start.as_ref().map_or("", |s| s.user.as_str()),
                workdir: start.as_ref().map_or("", |s| s.workdir.as_str()),
                env: start.as_ref().map_or(&job.plan.start.env, |s| &s.env),
                vcpus: job.vcpus,
                memory_mb: job.memory_mb,
            })
            .to_hex();
        let total = self.total();
        if let Some(row) = self.cached_version(&version_key).await? {
            self.logs.system(
                total,
                format!("the template's snapshot: CACHED ({})", row.id),
            );
            return self.register_existing(&row.id).await;
        }
        self.boot(from).await?;
        let memory = start.is_some();
        self.logs.system(
            total,
            if memory {
                "taking the template's memory snapshot (start command ready)".into()
            } else {
                "taking the template's snapshot".into()
            },
        );
        let image = new_image();
        let vm = self.vm()?;
        let snapshot = vm
            .agent
            .snapshot(&vm.sandbox_id, &image, memory, start.as_ref());
        let made = tokio::select! {
            made = snapshot => made,
            stop = wait_stop(self.stop.clone()) => return Err(Failure::Stopped(stop)),
        }
        .map_err(|e| Failure::failed("snapshot_failed", e.to_string()))?;
        let row = TemplateRow {
            id: db::new_id("tpl_"),
            team_id: Some(job.team_id.clone()),
            name: job.name.clone(),
            image: made.image.clone(),
            builtin: false,
            vcpus: i64::from(job.vcpus),
            memory_mb: i64::from(job.memory_mb),
            disk_mb: i64::try_from(made.disk_mb).ok(),
            has_memory_snapshot: made.has_memory_snapshot,
            source_sandbox_id: None,
            created_at: db::now_ms(),
            host_id: Some(vm.host_id.clone()),
        };
        let registered = db::templates::register_version(
            &self.state.db,
            &job.team_id,
            &job.name,
            &job.tag,
            &job.id,
            Version::New(&row),
        )
        .await;
        match registered {
            Ok(id) => {
                template_copies::record_made(self.state, &id, &vm.host_id, &made).await;
                db::build_cache::insert(&self.state.db, &job.team_id, &version_key, &id).await?;
                Ok(id)
            }
            Err(err) => {
                let _ = vm.agent.delete_template(&row.image).await;
                Err(err.into())
            }
        }
    }
}

impl Run<'_> {
    /// Registers an existing row (a cached snapshot) as this build's
    /// version, at this build's shape.
    async fn register_existing(&self, row_id: &str) -> Result<String, Failure> {
        let job = self.job;
        let id = db::templates::register_version(
            &self.state.db,
            &job.team_id,
            &job.name,
            &job.tag,
            &job.id,
            Version::Existing {
                id: row_id,
                vcpus: i64::from(job.vcpus),
                memory_mb: i64::from(job.memory_mb),
            },
        )
        .await?;
        Ok(id)
    }

    /// The version a build with the same final key made, if it is still
    /// there and may be this build's version.
    async fn cached_version(&self, key: &str) -> Result<Option<TemplateRow>, Failure> {
        let db = &self.state.db;
        let Some(id) = db::build_cache::lookup(db, &self.job.team_id, key).await? else {
            return Ok(None);
        };
        let row = db::templates::by_id(db, &id).await?;
        Ok(row.filter(|r| promotable(r, &self.job.name)))
    }
}

/// A cached row a build may make its version: a cache entry, or a
/// version of the same template.
fn promotable(row: &TemplateRow, name: &str) -> bool {
    row.name.starts_with("~cache-")
        || row.name == name
        || row
            .name
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('@'))
}

fn new_image() -> String {
    format!("tm-{}", crate::auth::random_token(16).to_lowercase())
}

async fn wait_stop(mut stop: watch::Receiver<Stop>) -> Stop {
    loop {
        let now = *stop.borrow_and_update();
        if now != Stop::None {
            return now;
        }
        if stop.changed().await.is_err() {
            // The sender is gone: nothing will stop us any more.
            std::future::pending::<()>().await;
        }
    }
}

/// Drops the team's least recently used cache entries beyond the cap; the
/// snapshots of plain entries go from their host and the database (an
/// entry that is also a version stays as the version).
async fn evict(state: &AppState, team_id: &str) {
    let keep = BuildSettings::get().cache_max_per_team;
    let evicted = match db::build_cache::evict_beyond(&state.db, team_id, keep).await {
        Ok(e) => e,
        Err(err) => {
            tracing::warn!(team_id, error = %err, "cannot evict build cache entries");
            return;
        }
    };
    for (_, template_id) in evicted {
        let Ok(Some(row)) = db::templates::by_id(&state.db, &template_id).await else {
            continue;
        };
        if !row.name.starts_with("~cache-") {
            continue;
        }
        if let Some(host) = &row.host_id {
            if let Ok(agent) = state.hosts.agent(host).await {
                match agent.delete_template(&row.image).await {
                    Ok(()) | Err(AgentError::NotFound(_)) => {}
                    // In use (a build VM runs on it): kept for next time.
                    Err(_) => continue,
                }
            }
        }
        let _ = db::templates::delete(&state.db, &row.id).await;
    }
}
