//! The sandbox manager: the one owner of this host's sandboxes. It creates,
//! pauses, resumes and destroys them, persisting every transition, and
//! releases every resource (VM, network slot, disk files) on every failure.
//!
//! Locking: each sandbox has a `record` (short std mutex, for reads) and a
//! `runtime` (tokio mutex held for the whole of an operation, so two
//! operations on one sandbox never interleave).
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use super::{
    config::{Limits, SandboxConfig, TimeoutAction},
    error::SandboxError,
    id::{AccessToken, SandboxId},
    record::{SandboxInfo, SandboxRecord},
    state::{now_ms, Lifecycle, SandboxState},
    template::{TemplateSnapshots, SNAPSHOT_COMPLETE},
};
use crate::{
    disk::{create_disk, DiskStrategy},
    envd_client::{self, ExecOutput, ExecRequest, InitRequest, WaitReadyError},
    network::{
        EgressPolicy, NetworkConfig, NetworkHandle, SandboxNetwork, SlotAllocator, SlotLease,
    },
    paths::{DataDir, KernelFormat},
    vmm::{GuestNet, RunningVm, VmSpec, Vmm},
};

/// Everything the manager needs besides the backend.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub data: DataDir,
    pub network: NetworkConfig,
    pub limits: Limits,
    /// How long a guest gets to answer `/health` after boot or restore.
    pub ready_timeout: Duration,
    pub kernel_format: KernelFormat,
}

/// The disk file inside a sandbox directory.
pub(super) const DISK_FILE: &str = "disk.qcow2";
const SNAPSHOT_DIR: &str = "snapshot";
const RUN_DIR: &str = "run";
const GUEST_INIT: &str = "/usr/bin/envd";

pub(super) struct Entry<Vm> {
    pub(super) record: Mutex<SandboxRecord>,
    pub(super) runtime: tokio::sync::Mutex<Runtime<Vm>>,
}

/// What exists for a sandbox while it runs.
pub(super) struct Runtime<Vm> {
    pub(super) vm: Option<Vm>,
    net: Option<(SlotLease, NetworkHandle)>,
}

impl<Vm> Default for Runtime<Vm> {
    fn default() -> Self {
        Self {
            vm: None,
            net: None,
        }
    }
}

/// The sandbox manager; cheap to clone (shared state).
pub struct SandboxManager<V: Vmm> {
    pub(super) inner: Arc<Inner<V>>,
}

impl<V: Vmm> Clone for SandboxManager<V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<V: Vmm> std::fmt::Debug for SandboxManager<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxManager")
            .field("backend", &self.inner.backend.kind())
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner<V: Vmm> {
    pub(super) opts: ManagerOptions,
    pub(super) backend: V,
    pub(super) network: SandboxNetwork,
    pub(super) slots: SlotAllocator,
    pub(super) sandboxes: RwLock<HashMap<SandboxId, Arc<Entry<V::Vm>>>>,
    pub(super) http: reqwest::Client,
    pub(super) templates: TemplateSnapshots,
}

/// How a VM starts: cold boot, or restore of a memory snapshot.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start<'a> {
    Boot,
    Restore(&'a Path),
}

impl<V: Vmm> SandboxManager<V> {
    /// Builds a manager. Call [`SandboxManager::start`] before serving.
    pub fn new(backend: V, opts: ManagerOptions) -> Result<Self, SandboxError> {
        let network = SandboxNetwork::new(opts.network.clone())
            .map_err(|e| SandboxError::Capacity(format!("network configuration: {e}")))?;
        let slots = SlotAllocator::new(opts.network.max_slots);
        let sandboxes_dir = opts.data.root().join("sandboxes");
        std::fs::create_dir_all(&sandboxes_dir)
            .map_err(|source| storage(&sandboxes_dir, source))?;
        let templates = TemplateSnapshots::new(opts.data.root().join("snapshots/templates"));
        let http = reqwest::Client::builder().build().unwrap_or_default();
        Ok(Self {
            inner: Arc::new(Inner {
                opts,
                backend,
                network,
                slots,
                sandboxes: RwLock::default(),
                http,
                templates,
            }),
        })
    }

    pub fn backend(&self) -> &V {
        &self.inner.backend
    }

    pub fn options(&self) -> &ManagerOptions {
        &self.inner.opts
    }

    pub(super) fn sandbox_dir(&self, id: &SandboxId) -> PathBuf {
        self.inner
            .opts
            .data
            .root()
            .join("sandboxes")
            .join(id.as_str())
    }

    pub(super) fn entry(&self, id: &SandboxId) -> Result<Arc<Entry<V::Vm>>, SandboxError> {
        let map = self
            .inner
            .sandboxes
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(id)
            .cloned()
            .ok_or_else(|| SandboxError::NotFound(id.clone()))
    }

    pub(super) fn insert(&self, record: SandboxRecord) -> Arc<Entry<V::Vm>> {
        let id = record.id.clone();
        let entry = Arc::new(Entry {
            record: Mutex::new(record),
            runtime: tokio::sync::Mutex::default(),
        });
        self.inner
            .sandboxes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::clone(&entry));
        entry
    }

    fn remove(&self, id: &SandboxId) {
        self.inner
            .sandboxes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Applies `change` to the record and persists it.
    pub(super) fn update(
        &self,
        entry: &Entry<V::Vm>,
        change: impl FnOnce(&mut SandboxRecord) -> Result<(), SandboxError>,
    ) -> Result<SandboxInfo, SandboxError> {
        let mut record = entry.record.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut record)?;
        let dir = self.sandbox_dir(&record.id);
        if dir.is_dir() {
            record.save(&dir).map_err(|source| storage(&dir, source))?;
        }
        Ok(SandboxInfo::from(&*record))
    }

    fn transition(
        &self,
        entry: &Entry<V::Vm>,
        to: SandboxState,
        reason: Option<String>,
    ) -> Result<SandboxInfo, SandboxError> {
        self.update(entry, |r| Ok(r.lifecycle.transition(to, reason)?))
    }

    pub fn get(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        let entry = self.entry(id)?;
        let record = entry.record.lock().unwrap_or_else(|e| e.into_inner());
        Ok(SandboxInfo::from(&*record))
    }

    pub fn list(&self) -> Vec<SandboxInfo> {
        let map = self
            .inner
            .sandboxes
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<SandboxInfo> = map
            .values()
            .map(|e| SandboxInfo::from(&*e.record.lock().unwrap_or_else(|p| p.into_inner())))
            .collect();
        all.sort_by_key(|s| s.created_at_ms);
        all
    }

    /// Creates a sandbox and returns once envd in it is ready and initialised.
    /// On failure every resource is released and the sandbox stays listed in
    /// state `error` with the reason.
    pub async fn create(&self, config: SandboxConfig) -> Result<SandboxInfo, SandboxError> {
        self.create_with_id(SandboxId::generate(), config).await
    }

    /// [`Self::create`] with an id chosen by the caller (the control plane's
    /// record id); refused if a sandbox with that id already exists here.
    pub async fn create_with_id(
        &self,
        id: SandboxId,
        config: SandboxConfig,
    ) -> Result<SandboxInfo, SandboxError> {
        if self.get(&id).is_ok() || self.sandbox_dir(&id).exists() {
            return Err(SandboxError::AlreadyExists(id));
        }
        let policy = config.validate(&self.inner.opts.limits)?;
        let image = self
            .inner
            .opts
            .data
            .template_image(config.template.as_str())
            .map_err(|_| SandboxError::UnknownTemplate(config.template.to_string()))?;
        // Pin the image version: later template rebuilds must not change the
        // backing file of this sandbox's disk.
        let image = std::fs::canonicalize(&image).map_err(|source| storage(&image, source))?;
        // Refused before anything exists: a disk smaller than the template
        // is the caller's mistake, not a failed start.
        if let Some(requested_mib) = config.disk_mib {
            let template_bytes = std::fs::metadata(&image)
                .map_err(|source| storage(&image, source))?
                .len();
            if requested_mib.saturating_mul(1024 * 1024) < template_bytes {
                return Err(SandboxError::DiskTooSmall {
                    template: config.template.to_string(),
                    requested_mib,
                    template_mib: template_bytes.div_ceil(1024 * 1024),
                });
            }
        }
        let dir = self.sandbox_dir(&id);
        std::fs::create_dir_all(dir.join(RUN_DIR)).map_err(|source| storage(&dir, source))?;
        let now = now_ms();
        let snapshot =
            self.inner
                .templates
                .ready(&config.template, &image, config.vcpus, config.memory_mib);
        let record = SandboxRecord {
            id: id.clone(),
            timeout_at_ms: now + config.timeout_secs * 1000,
            config,
            lifecycle: Lifecycle::new(),
            access_token: AccessToken::generate(),
            created_at_ms: now,
            pid: None,
            slot: None,
            envd_addr: None,
            from_snapshot: snapshot.clone(),
        };
        record.save(&dir).map_err(|source| storage(&dir, source))?;
        let entry = self.insert(record.clone());
        let mut runtime = entry.runtime.lock().await;
        let started = Instant::now();
        let result = async {
            let (base, start) = match &snapshot {
                Some(snap) => (
                    snap.join(super::template::SNAPSHOT_DISK),
                    Start::Restore(snap),
                ),
                None => (image.clone(), Start::Boot),
            };
            let disk = dir.join(DISK_FILE);
            create_disk(
                DiskStrategy::Qcow2Overlay,
                &base,
                &disk,
                record.config.disk_mib,
            )
            .map_err(|e| format!("disk: {e}"))?;
            self.start_vm(&entry, &mut runtime, &policy, start, None)
                .await
        }
        .await;
        match result {
            Ok(()) => {
                let info = self.transition(&entry, SandboxState::Running, None)?;
                tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64,
                    from_snapshot = snapshot.is_some(), "sandbox running");
                Ok(info)
            }
            Err(reason) => {
                self.release(&mut runtime).await;
                remove_contents_except_record(&dir);
                let _ = self.update(&entry, |r| {
                    r.pid = None;
                    r.slot = None;
                    r.envd_addr = None;
                    Ok(r.lifecycle
                        .transition(SandboxState::Error, Some(reason.clone()))?)
                });
                tracing::warn!(sandbox_id = %id, %reason, "sandbox failed to start");
                Err(SandboxError::StartFailed { id, reason })
            }
        }
    }

    /// Network, VMM, envd health and `/init`. On error the caller releases
    /// `runtime`; the returned string is the reason shown to the user.
    pub(super) async fn start_vm(
        &self,
        entry: &Entry<V::Vm>,
        runtime: &mut Runtime<V::Vm>,
        policy: &EgressPolicy,
        start: Start<'_>,
        current_token: Option<&str>,
    ) -> Result<(), String> {
        let (id, config, token) = {
            let r = entry.record.lock().unwrap_or_else(|e| e.into_inner());
            (r.id.clone(), r.config.clone(), r.access_token.clone())
        };
        let dir = self.sandbox_dir(&id);
        let lease = self
            .inner
            .slots
            .allocate()
            .map_err(|e| format!("no network slot free: {e}"))?;
        let handle = self
            .inner
            .network
            .create(lease.slot(), policy)
            .await
            .map_err(|e| format!("network: {e}"))?;
        let envd_url = format!("http://{}", handle.envd_addr);
        let tap = handle.tap.clone();
        let slot = lease.slot().index();
        let envd_addr = handle.envd_addr.to_string();
        runtime.net = Some((lease, handle));
        let spec = VmSpec {
            run_dir: dir.join(RUN_DIR),
            kernel: self
                .inner
                .opts
                .data
                .kernel(self.inner.opts.kernel_format)
                .map_err(|e| e.to_string())?,
            root_disk: dir.join(DISK_FILE),
            discard_writes: false,
            vcpus: config.vcpus,
            memory_mib: config.memory_mib,
            net: GuestNet::Tap(tap),
            init: vec![GUEST_INIT.into()],
        };
        let vm = match start {
            Start::Boot => self.inner.backend.boot(&spec).await,
            Start::Restore(snapshot) => self.inner.backend.restore(&spec, snapshot).await,
        }
        .map_err(|e| format!("VMM: {e}"))?;
        let pid = vm.pid();
        let vm = runtime.vm.insert(vm);
        let _ = self.update(entry, |r| {
            r.pid = pid;
            r.slot = Some(slot);
            r.envd_addr = Some(envd_addr);
            Ok(())
        });
        let timeout = self.inner.opts.ready_timeout;
        match envd_client::wait_ready(&self.inner.http, &envd_url, vm, timeout).await {
            Ok(()) => {}
            Err(WaitReadyError::VmStopped(err)) => {
                return Err(format!("the VM stopped while starting: {err}"));
            }
            Err(err @ WaitReadyError::Timeout(_)) => {
                return Err(format!(
                    "{err}; serial console tail:\n{}",
                    vm.console_tail(15)
                ));
            }
        }
        let init = InitRequest {
            env_vars: &config.env_vars,
            access_token: token.expose(),
            default_user: "user",
            default_workdir: "/home/user",
            timestamp: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        };
        envd_client::init(&self.inner.http, &envd_url, &init, current_token)
            .await
            .map_err(|e| format!("envd /init: {e}"))?;
        if let Some(disk_mib) = config.disk_mib {
            // The block device grew; let the file system use it.
            let mut grow = ExecRequest::shell("resize2fs /dev/vda >/dev/null 2>&1 || true");
            grow.user = "root".into();
            grow.access_token = Some(token.expose().to_owned());
            if let Err(err) = envd_client::exec(&envd_url, &grow).await {
                tracing::warn!(sandbox_id = %id, disk_mib, %err, "could not grow the guest file system");
            }
        }
        Ok(())
    }

    /// Stops the VM and frees the network slot (both best effort, logged).
    pub(super) async fn release(&self, runtime: &mut Runtime<V::Vm>) {
        if let Some(mut vm) = runtime.vm.take() {
            if let Err(err) = vm.kill().await {
                tracing::warn!(%err, "stopping the VMM failed");
            }
        }
        if let Some((lease, handle)) = runtime.net.take() {
            if let Err(err) = self.inner.network.destroy(handle.slot).await {
                tracing::warn!(%err, slot = lease.slot().index(), "removing the sandbox network failed");
            }
            drop(lease);
        }
    }

    /// Destroys a sandbox: VM, network, disk and snapshot are removed.
    pub async fn destroy(&self, id: &SandboxId) -> Result<(), SandboxError> {
        let entry = self.entry(id)?;
        let mut runtime = entry.runtime.lock().await;
        let state = entry
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state();
        if state == SandboxState::Stopped {
            return Err(SandboxError::NotFound(id.clone()));
        }
        self.release(&mut runtime).await;
        let _ = self.update(&entry, |r| {
            r.pid = None;
            r.slot = None;
            r.envd_addr = None;
            if r.state().can_become(SandboxState::Stopped) {
                r.lifecycle.transition(SandboxState::Stopped, None)?;
            }
            Ok(())
        });
        let dir = self.sandbox_dir(id);
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(sandbox_id = %id, %err, "removing the sandbox directory failed");
        }
        self.remove(id);
        tracing::info!(sandbox_id = %id, "sandbox destroyed");
        Ok(())
    }

    /// Snapshots the sandbox to disk and frees its CPU, memory and network.
    pub async fn pause(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        let entry = self.entry(id)?;
        let mut runtime = entry.runtime.lock().await;
        self.transition(&entry, SandboxState::Pausing, None)?;
        let snapshot = self.sandbox_dir(id).join(SNAPSHOT_DIR);
        let _ = std::fs::remove_dir_all(&snapshot);
        let Some(vm) = runtime.vm.as_mut() else {
            let reason = "no VM process for a running sandbox".to_owned();
            self.release(&mut runtime).await;
            self.transition(&entry, SandboxState::Error, Some(reason.clone()))?;
            return Err(SandboxError::PauseFailed {
                id: id.clone(),
                reason,
            });
        };
        let started = Instant::now();
        match vm.pause_to(&snapshot).await {
            Ok(()) => {
                let _ = std::fs::write(snapshot.join(SNAPSHOT_COMPLETE), b"");
                runtime.vm = None;
                self.release(&mut runtime).await;
                let info = self.update(&entry, |r| {
                    r.pid = None;
                    r.slot = None;
                    r.envd_addr = None;
                    Ok(r.lifecycle.transition(SandboxState::Paused, None)?)
                })?;
                tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64, "sandbox paused");
                Ok(info)
            }
            Err(err) => {
                let reason = err.to_string();
                let _ = std::fs::remove_dir_all(&snapshot);
                if vm.check_running().is_ok() {
                    self.transition(&entry, SandboxState::Running, None)?;
                } else {
                    self.release(&mut runtime).await;
                    self.transition(
                        &entry,
                        SandboxState::Error,
                        Some(format!("pause failed: {reason}")),
                    )?;
                }
                Err(SandboxError::PauseFailed {
                    id: id.clone(),
                    reason,
                })
            }
        }
    }

    /// Restores a paused sandbox with its processes and files.
    pub async fn resume(&self, id: &SandboxId) -> Result<SandboxInfo, SandboxError> {
        let entry = self.entry(id)?;
        let mut runtime = entry.runtime.lock().await;
        let (config, token) = {
            let r = entry.record.lock().unwrap_or_else(|e| e.into_inner());
            (r.config.clone(), r.access_token.clone())
        };
        self.transition(&entry, SandboxState::Resuming, None)?;
        let snapshot = self.sandbox_dir(id).join(SNAPSHOT_DIR);
        let policy = config.validate(&self.inner.opts.limits)?;
        let started = Instant::now();
        match self
            .start_vm(
                &entry,
                &mut runtime,
                &policy,
                Start::Restore(&snapshot),
                Some(token.expose()),
            )
            .await
        {
            Ok(()) => {
                let timeout_ms = config.timeout_secs * 1000;
                let info = self.update(&entry, |r| {
                    r.timeout_at_ms = now_ms() + timeout_ms;
                    Ok(r.lifecycle.transition(SandboxState::Running, None)?)
                })?;
                // The memory image is stale from now on; free its disk space.
                let _ = std::fs::remove_dir_all(&snapshot);
                tracing::info!(sandbox_id = %id, duration_ms = started.elapsed().as_millis() as u64, "sandbox resumed");
                Ok(info)
            }
            Err(reason) => {
                self.release(&mut runtime).await;
                let _ = self.update(&entry, |r| {
                    r.pid = None;
                    r.slot = None;
                    r.envd_addr = None;
                    Ok(r.lifecycle.transition(SandboxState::Paused, None)?)
                });
                Err(SandboxError::ResumeFailed {
                    id: id.clone(),
                    reason,
                })
            }
        }
    }

    /// Moves the inactivity deadline to `timeout_secs` from now (E2B's
    /// `set_timeout`; a ping with the configured timeout).
    pub fn set_timeout(
        &self,
        id: &SandboxId,
        timeout_secs: Option<u64>,
    ) -> Result<SandboxInfo, SandboxError> {
        let entry = self.entry(id)?;
        self.update(&entry, |r| {
            let secs = timeout_secs.unwrap_or(r.config.timeout_secs);
            if secs == 0 || secs > super::config::MAX_TIMEOUT_SECS {
                return Err(super::config::ConfigError::Timeout(secs).into());
            }
            r.timeout_at_ms = now_ms() + secs * 1000;
            Ok(())
        })
    }

    /// Where envd of a running sandbox answers, with its access token.
    pub fn envd_endpoint(&self, id: &SandboxId) -> Result<(String, AccessToken), SandboxError> {
        let entry = self.entry(id)?;
        let r = entry.record.lock().unwrap_or_else(|e| e.into_inner());
        match (&r.envd_addr, r.state()) {
            (Some(addr), SandboxState::Running) => {
                Ok((format!("http://{addr}"), r.access_token.clone()))
            }
            (_, state) => Err(super::state::IllegalTransition {
                from: state,
                to: SandboxState::Running,
            }
            .into()),
        }
    }

    /// Runs a shell command in a running sandbox and collects its output.
    pub async fn exec(
        &self,
        id: &SandboxId,
        mut request: ExecRequest,
    ) -> Result<ExecOutput, SandboxError> {
        let (url, token) = self.envd_endpoint(id)?;
        request.access_token = Some(token.expose().to_owned());
        envd_client::exec(&url, &request)
            .await
            .map_err(|e| SandboxError::StartFailed {
                id: id.clone(),
                reason: format!("exec: {e}"),
            })
    }

    /// One pass of the inactivity reaper: pauses or kills running sandboxes
    /// whose deadline passed. Returns what it did, for logs and tests.
    pub async fn reap_expired(&self) -> Vec<(SandboxId, TimeoutAction)> {
        let now = now_ms();
        let expired: Vec<(SandboxId, TimeoutAction)> = self
            .list()
            .into_iter()
            .filter(|s| s.state == SandboxState::Running && s.timeout_at_ms <= now)
            .filter_map(|s| {
                let entry = self.entry(&s.id).ok()?;
                let action = entry
                    .record
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .config
                    .on_timeout;
                Some((s.id, action))
            })
            .collect();
        for (id, action) in &expired {
            let result = match action {
                TimeoutAction::Pause => self.pause(id).await.map(|_| ()),
                TimeoutAction::Kill => self.destroy(id).await,
            };
            match result {
                Ok(()) => tracing::info!(sandbox_id = %id, ?action, "inactivity timeout"),
                Err(err) => {
                    tracing::warn!(sandbox_id = %id, %err, "inactivity timeout action failed")
                }
            }
        }
        expired
    }

    /// Runs [`SandboxManager::reap_expired`] every second until the manager
    /// is dropped everywhere else.
    pub fn spawn_reaper(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { return };
                SandboxManager { inner }.reap_expired().await;
            }
        })
    }

    /// Destroys every sandbox (tests, shutdown with `--destroy-on-exit`).
    pub async fn destroy_all(&self) {
        for sandbox in self.list() {
            let _ = self.destroy(&sandbox.id).await;
        }
    }
}

pub(super) fn storage(path: &Path, source: std::io::Error) -> SandboxError {
    SandboxError::Storage {
        path: path.display().to_string(),
        source,
    }
}

/// After a failed start: keep only `sandbox.json` (the error record).
pub(super) fn remove_contents_except_record(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .file_name()
            .is_some_and(|n| n == super::record::RECORD_FILE)
        {
            continue;
        }
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}
