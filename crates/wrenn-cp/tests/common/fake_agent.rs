//! [`FakeAgent`]: an in-memory host for API tests. It keeps sandboxes in a
//! map and answers the way the real agent does (running after create,
//! `NotFound` for unknown ids, `FailedPrecondition` for a pause of a paused
//! sandbox), and routes envd to an address nothing listens on, so
//! envd-backed endpoints fail as they would with an unreachable guest, until
//! a test serves a [`FakeEnvd`] (which runs commands as a scripted echo).
//! Knobs let a test make the next create fail,
//! change what the host reports (its own timeout pausing a sandbox, a
//! sandbox gone), and count the calls the control plane made.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use wrenn_cp::agent::{
    transport::AgentTransport, AgentApi, AgentCreate, AgentEgress, AgentError, AgentImageDefaults,
    AgentImport, AgentImported, AgentMetricsSample, AgentResult, AgentSandbox, AgentStart,
    AgentState, AgentTemplate, AgentTemplateImage, EnvdRoute,
};

use super::fake_envd::FakeEnvd;

/// Where envd "is": the discard port, on which nothing listens.
pub const UNREACHABLE_ENVD: &str = "http://127.0.0.1:9";

#[derive(Debug, Default)]
pub struct FakeAgent {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sandboxes: HashMap<String, AgentSandbox>,
    images: BTreeMap<String, AgentTemplate>,
    next_create_error: Option<AgentError>,
    next_fork_error: Option<AgentError>,
    /// Fork calls: (source, copies asked for, timeout).
    forks: Vec<(String, Vec<String>, Option<u64>)>,
    /// Pauses that kept only the disk.
    disk_only_pauses: usize,
    /// Egress updates: (sandbox, policy).
    egress_updates: Vec<(String, AgentEgress)>,
    /// Metrics samples the host "took", per sandbox.
    metrics: HashMap<String, Vec<AgentMetricsSample>>,
    /// Creates wait for this gate before answering (see `hold_creates`).
    create_gate: Option<Arc<tokio::sync::Notify>>,
    /// Creates that reached the host, answered or not.
    creates_started: usize,
    /// Where envd answers once a test served one.
    envd_url: Option<String>,
    creates: Vec<AgentCreate>,
    destroyed: Vec<String>,
    pauses: usize,
    resumes: usize,
    deleted_images: Vec<String>,
    /// Snapshot calls: (sandbox, image, memory, start spec).
    snapshots: Vec<(String, String, bool, Option<AgentStart>)>,
    /// The agent secret it proves its identity with (set when dialled as a
    /// registered host).
    secret: Option<String>,
    /// ImportBase calls, and the refusal (code, message) of the next one.
    imports: Vec<AgentImport>,
    next_import_failure: Option<(String, String)>,
}

impl FakeAgent {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `import_base` is refused with this code and message.
    pub fn fail_next_import(&self, code: &str, message: &str) {
        self.inner().next_import_failure = Some((code.to_owned(), message.to_owned()));
    }

    /// ImportBase requests so far, in order.
    pub fn imports(&self) -> Vec<AgentImport> {
        self.inner().imports.clone()
    }

    /// The next `create` fails with `err` (and keeps nothing).
    pub fn fail_next_create(&self, err: AgentError) {
        self.inner().next_create_error = Some(err);
    }

    /// The next `fork` fails with `err` (and keeps no copy).
    pub fn fail_next_fork(&self, err: AgentError) {
        self.inner().next_fork_error = Some(err);
    }

    /// Fork calls so far: (source, copy ids, timeout).
    pub fn forks(&self) -> Vec<(String, Vec<String>, Option<u64>)> {
        self.inner().forks.clone()
    }

    /// The host sampled `metrics` of sandbox `id` at `at_ms`.
    pub fn add_metrics(&self, id: &str, at_ms: i64, metrics: serde_json::Value) {
        self.inner()
            .metrics
            .entry(id.to_owned())
            .or_default()
            .push(AgentMetricsSample { at_ms, metrics });
    }

    /// Egress updates so far: (sandbox, policy).
    pub fn egress_updates(&self) -> Vec<(String, AgentEgress)> {
        self.inner().egress_updates.clone()
    }

    /// Pauses that kept only the disk.
    pub fn disk_only_pauses(&self) -> usize {
        self.inner().disk_only_pauses
    }

    /// From now on every create waits, once it reached the host, until the
    /// returned gate is opened (`notify_one` per create): a slow boot.
    pub fn hold_creates(&self) -> Arc<tokio::sync::Notify> {
        let gate = Arc::new(tokio::sync::Notify::new());
        self.inner().create_gate = Some(gate.clone());
        gate
    }

    /// Creates that reached the host, including those still held.
    pub fn creates_started(&self) -> usize {
        self.inner().creates_started
    }

    /// Snapshot calls so far: (sandbox, image, memory, start spec).
    pub fn snapshots(&self) -> Vec<(String, String, bool, Option<AgentStart>)> {
        self.inner().snapshots.clone()
    }

    /// Creates that reached the host, answered or not, in order.
    pub fn create_calls(&self) -> Vec<AgentCreate> {
        self.inner().creates.clone()
    }

    /// Serves a [`FakeEnvd`] for every sandbox of this host from now on.
    pub async fn serve_envd(&self) -> Arc<FakeEnvd> {
        let (envd, url) = FakeEnvd::serve().await;
        self.inner().envd_url = Some(url);
        envd
    }

    /// The host now reports `id` in `state` (as its own timeout would).
    pub fn set_state(&self, id: &str, state: AgentState) {
        if let Some(sandbox) = self.inner().sandboxes.get_mut(id) {
            sandbox.state = state;
        }
    }

    /// The guest CPU reading (ms) the host now reports for `id`'s VMM.
    pub fn set_cpu_ms(&self, id: &str, cpu_ms: i64) {
        if let Some(sandbox) = self.inner().sandboxes.get_mut(id) {
            sandbox.cpu_ms = Some(cpu_ms);
        }
    }

    /// The host now runs `sandbox` without any create having asked (a create
    /// whose control plane died before recording it).
    pub fn keep(&self, sandbox: AgentSandbox) {
        self.inner().sandboxes.insert(sandbox.id.clone(), sandbox);
    }

    /// The host holds template image `image` that no control plane asked
    /// for (a snapshot whose control plane died before recording it).
    pub fn keep_image(&self, image: &str) {
        let template = AgentTemplate {
            image: image.to_owned(),
            disk_mb: 2048,
            has_memory_snapshot: false,
            digest: String::new(),
            bytes: 0,
        };
        self.inner().images.insert(image.to_owned(), template);
    }

    /// The host no longer knows `id` (it crashed, or was cleaned up).
    pub fn forget(&self, id: &str) {
        self.inner().sandboxes.remove(id);
    }

    /// What the host reports for `id`; `None` when it does not know it.
    pub fn state(&self, id: &str) -> Option<AgentState> {
        self.inner().sandboxes.get(id).map(|s| s.state)
    }

    pub fn creates(&self) -> usize {
        self.inner().creates.len()
    }

    /// The last create request the host received.
    pub fn last_create(&self) -> Option<AgentCreate> {
        self.inner().creates.last().cloned()
    }

    pub fn destroys(&self) -> usize {
        self.inner().destroyed.len()
    }

    /// Whether `destroy(id)` was called (also for ids the host did not know).
    pub fn destroyed(&self, id: &str) -> bool {
        self.inner().destroyed.iter().any(|d| d == id)
    }

    pub fn pauses(&self) -> usize {
        self.inner().pauses
    }

    pub fn resumes(&self) -> usize {
        self.inner().resumes
    }

    /// Template images the host holds.
    pub fn images(&self) -> Vec<String> {
        self.inner().images.keys().cloned().collect()
    }

    pub fn deleted_images(&self) -> Vec<String> {
        self.inner().deleted_images.clone()
    }

    fn with_sandbox<T>(
        &self,
        id: &str,
        change: impl FnOnce(&mut AgentSandbox) -> AgentResult<T>,
    ) -> AgentResult<T> {
        let mut inner = self.inner();
        let sandbox = inner
            .sandboxes
            .get_mut(id)
            .ok_or_else(|| AgentError::NotFound(format!("sandbox {id} not found")))?;
        change(sandbox)
    }
}

/// The envd access token the fake host gives sandbox `id` (the same across
/// pause and resume, as the real agent's).
pub fn envd_token(id: &str) -> String {
    format!("envd-token-{id}")
}

/// The deadline the fake host sets for a timeout from now.
pub fn deadline(timeout_secs: u64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    now + i64::try_from(timeout_secs).unwrap_or(0) * 1000
}

fn require(sandbox: &AgentSandbox, state: AgentState) -> AgentResult<()> {
    if sandbox.state == state {
        Ok(())
    } else {
        Err(AgentError::FailedPrecondition(format!(
            "sandbox {} is {:?}, not {state:?}",
            sandbox.id, sandbox.state
        )))
    }
}

#[async_trait::async_trait]
impl AgentApi for FakeAgent {
    async fn prove_identity(&self, challenge: &str) -> AgentResult<String> {
        let secret = self.inner().secret.clone().unwrap_or_default();
        Ok(wrenn_types::host_wire::identity_proof(&secret, challenge))
    }

    async fn create(&self, request: AgentCreate) -> AgentResult<AgentSandbox> {
        let gate = {
            let mut inner = self.inner();
            inner.creates_started += 1;
            inner.create_gate.clone()
        };
        if let Some(gate) = gate {
            gate.notified().await;
        }
        let mut inner = self.inner();
        inner.creates.push(request.clone());
        if let Some(err) = inner.next_create_error.take() {
            return Err(err);
        }
        let sandbox = AgentSandbox {
            id: request.id.clone(),
            state: AgentState::Running,
            reason: String::new(),
            timeout_at_ms: deadline(request.timeout_secs),
            from_snapshot: inner
                .images
                .get(&request.template_image)
                .is_some_and(|t| t.has_memory_snapshot),
            cpu_ms: Some(0),
        };
        inner.sandboxes.insert(request.id, sandbox.clone());
        Ok(sandbox)
    }

    async fn get(&self, id: &str) -> AgentResult<AgentSandbox> {
        self.with_sandbox(id, |s| Ok(s.clone()))
    }

    async fn list(&self) -> AgentResult<Vec<AgentSandbox>> {
        Ok(self.inner().sandboxes.values().cloned().collect())
    }

    async fn destroy(&self, id: &str) -> AgentResult<()> {
        self.destroy_metered(id).await.map(drop)
    }

    async fn destroy_metered(&self, id: &str) -> AgentResult<Option<i64>> {
        let mut inner = self.inner();
        inner.destroyed.push(id.to_owned());
        inner
            .sandboxes
            .remove(id)
            .map(|s| s.cpu_ms)
            .ok_or_else(|| AgentError::NotFound(format!("sandbox {id} not found")))
    }

    async fn pause(&self, id: &str) -> AgentResult<AgentSandbox> {
        self.inner().pauses += 1;
        self.with_sandbox(id, |s| {
            require(s, AgentState::Running)?;
            s.state = AgentState::Paused;
            Ok(s.clone())
        })
    }

    async fn metrics_history(
        &self,
        id: &str,
        start_ms: Option<u64>,
        end_ms: Option<u64>,
    ) -> AgentResult<Vec<AgentMetricsSample>> {
        self.with_sandbox(id, |_| Ok(()))?;
        let inside = |at: i64| {
            let at = u64::try_from(at).unwrap_or(0);
            start_ms.is_none_or(|s| at >= s) && end_ms.is_none_or(|e| at <= e)
        };
        Ok(self
            .inner()
            .metrics
            .get(id)
            .into_iter()
            .flatten()
            .filter(|s| inside(s.at_ms))
            .cloned()
            .collect())
    }

    async fn update_egress(&self, id: &str, egress: &AgentEgress) -> AgentResult<AgentSandbox> {
        let sandbox = self.with_sandbox(id, |s| Ok(s.clone()))?;
        self.inner()
            .egress_updates
            .push((id.to_owned(), egress.clone()));
        Ok(sandbox)
    }

    async fn pause_disk_only(&self, id: &str) -> AgentResult<AgentSandbox> {
        self.inner().disk_only_pauses += 1;
        self.with_sandbox(id, |s| {
            require(s, AgentState::Running)?;
            s.state = AgentState::Paused;
            Ok(s.clone())
        })
    }

    async fn fork(
        &self,
        id: &str,
        copy_ids: &[String],
        timeout_secs: Option<u64>,
    ) -> AgentResult<Vec<AgentSandbox>> {
        let mut inner = self.inner();
        inner
            .forks
            .push((id.to_owned(), copy_ids.to_vec(), timeout_secs));
        let source = inner
            .sandboxes
            .get(id)
            .cloned()
            .ok_or_else(|| AgentError::NotFound(format!("sandbox {id} not found")))?;
        require(&source, AgentState::Running)?;
        if let Some(err) = inner.next_fork_error.take() {
            return Err(err);
        }
        let copies: Vec<AgentSandbox> = copy_ids
            .iter()
            .map(|copy| AgentSandbox {
                id: copy.clone(),
                state: AgentState::Running,
                reason: String::new(),
                timeout_at_ms: deadline(timeout_secs.unwrap_or(300)),
                from_snapshot: false,
                cpu_ms: Some(0),
            })
            .collect();
        for copy in &copies {
            inner.sandboxes.insert(copy.id.clone(), copy.clone());
        }
        Ok(copies)
    }

    async fn resume(&self, id: &str) -> AgentResult<AgentSandbox> {
        self.inner().resumes += 1;
        self.with_sandbox(id, |s| {
            require(s, AgentState::Paused)?;
            s.state = AgentState::Running;
            s.timeout_at_ms = deadline(300);
            // A new VMM process: its counter starts again.
            s.cpu_ms = Some(0);
            Ok(s.clone())
        })
    }

    async fn set_timeout(&self, id: &str, timeout_secs: Option<u64>) -> AgentResult<AgentSandbox> {
        self.with_sandbox(id, |s| {
            require(s, AgentState::Running)?;
            s.timeout_at_ms = deadline(timeout_secs.unwrap_or(300));
            Ok(s.clone())
        })
    }

    async fn envd_access_token(
        &self,
        id: &str,
    ) -> AgentResult<Option<wrenn_cp::secret::SecretString>> {
        self.with_sandbox(id, |s| {
            Ok((s.state == AgentState::Running)
                .then(|| wrenn_cp::secret::SecretString::new(envd_token(id))))
        })
    }

    async fn snapshot(
        &self,
        id: &str,
        image: &str,
        memory: bool,
        start: Option<&AgentStart>,
    ) -> AgentResult<AgentTemplate> {
        self.with_sandbox(id, |_| Ok(()))?;
        self.inner()
            .snapshots
            .push((id.to_owned(), image.to_owned(), memory, start.cloned()));
        let template = AgentTemplate {
            image: image.to_owned(),
            disk_mb: 2048,
            has_memory_snapshot: memory,
            digest: String::new(),
            bytes: 0,
        };
        self.inner()
            .images
            .insert(image.to_owned(), template.clone());
        Ok(template)
    }

    /// Imports every base as image `oci-fake` (`debian-fake` for a suite)
    /// with a config of `FROM_IMAGE=yes`, WorkingDir `/img`, `CMD ["bash"]`.
    async fn import_base(&self, request: &AgentImport) -> AgentResult<AgentImported> {
        let mut inner = self.inner();
        inner.imports.push(request.clone());
        if let Some((code, message)) = inner.next_import_failure.take() {
            return Ok(AgentImported::Failed { code, message });
        }
        let image = if request.debian_suite.is_some() {
            "debian-fake"
        } else {
            "oci-fake"
        };
        let cached = inner.images.contains_key(image);
        let template = AgentTemplate {
            image: image.to_owned(),
            disk_mb: 2048,
            has_memory_snapshot: false,
            digest: String::new(),
            bytes: 0,
        };
        inner.images.insert(image.to_owned(), template.clone());
        Ok(AgentImported::Done {
            template,
            content_key: "sha256:fake".into(),
            cached,
            defaults: AgentImageDefaults {
                env: vec!["FROM_IMAGE=yes".into()],
                working_dir: "/img".into(),
                user: String::new(),
                entrypoint: Vec::new(),
                cmd: vec!["bash".into()],
            },
        })
    }

    async fn delete_template(&self, image: &str) -> AgentResult<()> {
        let mut inner = self.inner();
        inner.deleted_images.push(image.to_owned());
        inner
            .images
            .remove(image)
            .map(|_| ())
            .ok_or_else(|| AgentError::NotFound(format!("template {image} not found")))
    }

    async fn template_images(&self) -> AgentResult<Vec<AgentTemplateImage>> {
        Ok(self
            .inner()
            .images
            .keys()
            .map(|image| AgentTemplateImage {
                image: image.clone(),
                created_at_ms: 0,
            })
            .collect())
    }

    fn envd(&self, id: &str) -> EnvdRoute {
        let base_url = match &self.inner().envd_url {
            Some(url) => url.clone(),
            None => format!("{UNREACHABLE_ENVD}/envd/{id}"),
        };
        EnvdRoute {
            base_url,
            headers: vec![("x-agent-secret", "fake".to_owned())],
            transport: AgentTransport::new(None),
            http: reqwest::Client::new(),
        }
    }
}

/// Connects every registered host to its own [`FakeAgent`], made on first
/// use and kept, so a test can see what each host was asked to do.
#[derive(Debug, Default)]
pub struct FakeConnector {
    agents: Mutex<HashMap<String, Arc<FakeAgent>>>,
}

impl FakeConnector {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The fake behind `host_id` (made now if the host never connected).
    pub fn agent(&self, host_id: &str) -> Arc<FakeAgent> {
        self.agents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(host_id.to_owned())
            .or_default()
            .clone()
    }
}

impl wrenn_cp::agent::Connector for FakeConnector {
    fn connect(&self, target: &wrenn_cp::agent::HostTarget) -> anyhow::Result<Arc<dyn AgentApi>> {
        let agent = self.agent(target.host_id.as_str());
        agent.inner().secret = Some(target.secret.expose().to_owned());
        Ok(agent)
    }
}
