//! Warm pools at work (issue #15 item 2); [`super::warm`] decides, this
//! module acts. A pooled sandbox is *prepared* under a pool id in
//! `<data>/warm/<pool-id>/`: restored from the template snapshot on a
//! network slot with no internet, envd initialised with a pool token and
//! its hot path run once (`true`). A create of the same shape *claims* it:
//! the directory moves to `sandboxes/<sandbox-id>`, the backend takes the
//! VM over at the new path, the request's egress policy is applied and
//! envd's `/init` gives it the request's token, env vars, user and clock.
//! Pooled sandboxes live in their own registry: they are never listed,
//! reaped, sampled or counted as a team's. Refills go one at a time
//! through the start gate and only while no real start waits on it.
use std::{
    sync::{atomic::Ordering, Arc, Weak},
    time::{Duration, Instant},
};

use super::{
    config::{SandboxConfig, TimeoutAction, MAX_TIMEOUT_SECS},
    error::SandboxError,
    id::{SandboxId, TemplateName},
    launcher::{Launch, Runtime, Start},
    layout,
    lifecycle::{new_record, Sandboxes},
    record::SandboxInfo,
    registry::Entry,
    snapshot::{BUILTIN_SHAPE, BUILTIN_TEMPLATES},
    state::now_ms,
    warm::{WarmPoolSpec, WarmPools, WarmShape},
};
use crate::{
    envd_client::{self, ExecRequest},
    network::EgressPolicy,
    vmm::Vmm,
};

/// How often the pools are looked at (refills, memory pressure).
const PERIOD: Duration = Duration::from_secs(1);

type Pooled<V> = Arc<Entry<Runtime<<V as Vmm>::Vm>>>;

/// The quickstart's pools (`base:1:512:1`): one sandbox of `base` at the
/// built-in shape. The other built-ins (`code-interpreter-v1`, 1 GiB) get
/// their snapshot at start-up but no idle VM.
pub fn default_specs() -> Vec<WarmPoolSpec> {
    let (vcpus, memory_mib) = BUILTIN_SHAPE;
    BUILTIN_TEMPLATES
        .iter()
        .filter(|name| **name == "base")
        .filter_map(|name| name.parse().ok())
        .map(|template| WarmPoolSpec {
            shape: WarmShape {
                template,
                vcpus,
                memory_mib,
            },
            count: 1,
        })
        .collect()
}

/// The shape a create asks for, when the pool can give all it asks: a
/// pooled guest has the template's disk, so a create with its own disk
/// size starts normally.
fn shape_of(config: &SandboxConfig) -> Option<WarmShape> {
    config.disk_mib.is_none().then(|| WarmShape {
        template: config.template.clone(),
        vcpus: config.vcpus,
        memory_mib: config.memory_mib,
    })
}

impl<V: Vmm> Sandboxes<V> {
    /// Sets the pools (once per manager) to `specs`, capped to what the host holds beyond
    /// `reserve_mib` (logged), and refills them in the background until
    /// the lifecycle is dropped everywhere else.
    pub fn start_warm_pools(
        self: &Arc<Self>,
        specs: &[WarmPoolSpec],
        reserve_mib: u64,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if specs.is_empty() {
            return None;
        }
        let warm = &self.parts.warm;
        if warm.started.swap(true, Ordering::SeqCst) {
            tracing::warn!("warm pools are already set; the new setting is ignored");
            return None;
        }
        *warm.reserve_mib.lock().unwrap_or_else(|e| e.into_inner()) = reserve_mib;
        let (pools, capped) = WarmPools::new(specs, warm.room());
        for c in &capped {
            tracing::warn!(template = %c.shape.template, vcpus = c.shape.vcpus,
                memory_mib = c.shape.memory_mib, asked = c.asked, kept = c.kept,
                "warm pool capped to what the host memory holds");
        }
        *warm.pools() = pools;
        *warm.capped.lock().unwrap_or_else(|e| e.into_inner()) = capped;
        tracing::info!(pools = ?specs, reserve_mib, "warm pools on");
        let weak: Weak<Self> = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            loop {
                let Some(this) = weak.upgrade() else {
                    return;
                };
                this.tend_pools().await;
                drop(this);
                tokio::time::sleep(PERIOD).await;
            }
        }))
    }

    /// One look at the pools: give back under memory pressure, otherwise
    /// refill (one sandbox at a time, only while no real start queues).
    async fn tend_pools(&self) {
        let warm = &self.parts.warm;
        let room = warm.room();
        if room.is_low() {
            let killed = warm.pools().shrink(room);
            if !killed.is_empty() {
                tracing::warn!(
                    killed = killed.len(),
                    available_mib = room.available_mib,
                    reserve_mib = room.reserve_mib,
                    "memory low: idle warm sandboxes stopped, pools not refilled"
                );
            }
            for pooled in killed {
                self.kill_pooled(&pooled).await;
            }
            return;
        }
        warm.pools().regrow(room);
        loop {
            if self.parts.launcher.gate().waiting() > 0 {
                return;
            }
            let next = {
                let mut pools = warm.pools();
                // One at a time: what this pass will not start goes back.
                let mut next = None;
                for (shape, n) in pools.refills(warm.room()) {
                    let keep = usize::from(next.is_none());
                    for _ in keep..n {
                        pools.fill_failed(&shape);
                    }
                    next.get_or_insert(shape);
                }
                next
            };
            let Some(shape) = next else {
                return;
            };
            let started = Instant::now();
            match self.prepare_pooled(&shape).await {
                Ok(pooled) => {
                    let pool_id = pooled.read(|r| r.id.clone());
                    let unwanted = warm.pools().filled(&shape, pooled);
                    match unwanted {
                        None => tracing::info!(%pool_id, template = %shape.template,
                            duration_ms = started.elapsed().as_millis() as u64, "warm sandbox ready"),
                        Some(unwanted) => {
                            self.kill_pooled(&unwanted).await;
                            return;
                        }
                    }
                }
                Err(err) => {
                    warm.pools().fill_failed(&shape);
                    tracing::debug!(template = %shape.template, %err, "warm sandbox not made");
                    return;
                }
            }
        }
    }

    /// Restores one sandbox of `shape` into the pool's directory.
    async fn prepare_pooled(&self, shape: &WarmShape) -> Result<Pooled<V>, SandboxError> {
        let p = &self.parts;
        let warm = &p.warm;
        let image = layout::pinned_image(&p.data, &shape.template)?;
        let snapshot = p
            .snapshots
            .ready(&shape.template, &image, shape.vcpus, shape.memory_mib)
            .ok_or_else(|| {
                SandboxError::UnknownTemplate(format!("{} (no snapshot yet)", shape.template))
            })?;
        let pool_id = SandboxId::generate();
        let dir = warm.layout.dir(&pool_id);
        let run_dir = warm.layout.run_dir(&pool_id);
        std::fs::create_dir_all(&run_dir).map_err(|source| SandboxError::storage(&dir, source))?;
        let config = SandboxConfig {
            template: shape.template.clone(),
            vcpus: shape.vcpus,
            memory_mib: shape.memory_mib,
            disk_mib: None,
            timeout_secs: MAX_TIMEOUT_SECS,
            on_timeout: TimeoutAction::Kill,
            env_vars: Default::default(),
            metadata: Default::default(),
            egress: Default::default(),
        };
        let record = new_record(
            pool_id.clone(),
            config,
            now_ms(),
            Some(snapshot.clone()),
            p.disks.strategy(),
        );
        if let Err(source) = record.save(&dir) {
            layout::remove_logged(&dir, "a pooled sandbox's directory");
            return Err(SandboxError::storage(&dir, source));
        }
        let token = record.access_token.clone();
        let entry = warm.registry.insert(dir.clone(), record);
        let result = {
            let mut runtime = entry.lock().await;
            // A pooled guest reaches nothing until a create claims it.
            let policy = EgressPolicy {
                internet: false,
                allow: Vec::new(),
                deny: Vec::new(),
            };
            let disk = warm.layout.disk(&pool_id);
            let started = async {
                p.disks
                    .create(&p.disks.disk_in(&snapshot), &disk, None)
                    .await
                    .map_err(|e| format!("disk: {e}"))?;
                let launch = Launch {
                    disk: &disk,
                    run_dir: &run_dir,
                    policy: &policy,
                    start: Start::Restore(&snapshot),
                    current_token: None,
                    // Restored: the start command already runs.
                    template_start: None,
                };
                p.launcher.start(&entry, &mut runtime, launch).await?;
                // The guest's hot path, translated once before any claim.
                let url = entry.read(|r| r.envd_addr.clone()).unwrap_or_default();
                let mut hot = ExecRequest::shell("true");
                hot.access_token = Some(token.expose().to_owned());
                envd_client::exec(&format!("http://{url}"), &hot)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("first run: {e}"))
            }
            .await;
            if started.is_err() {
                p.launcher.release(&mut runtime).await;
            }
            started
        };
        match result {
            Ok(()) => Ok(entry),
            Err(reason) => {
                warm.registry.remove(&pool_id);
                layout::remove_logged(&dir, "a pooled sandbox that failed to start");
                Err(SandboxError::StartFailed {
                    id: pool_id,
                    reason,
                })
            }
        }
    }

    /// Stops a pooled sandbox and removes everything of it.
    async fn kill_pooled(&self, pooled: &Pooled<V>) {
        let p = &self.parts;
        let pool_id = pooled.read(|r| r.id.clone());
        p.launcher.release(&mut *pooled.lock().await).await;
        p.warm.registry.remove(&pool_id);
        layout::remove_logged(pooled.dir(), "a pooled sandbox");
        tracing::info!(%pool_id, "warm sandbox stopped");
    }

    /// Whether a pool of `template` exists.
    pub fn has_warm_pool(&self, template: &TemplateName) -> bool {
        self.parts.warm.pools().has_template(template)
    }

    /// A template went away: its pools drain and their sandboxes stop.
    pub async fn drain_warm_template(&self, template: &TemplateName) {
        let drained = self.parts.warm.pools().drain_template(template);
        for pooled in drained {
            self.kill_pooled(&pooled).await;
        }
    }

    /// Stops every idle pooled sandbox (shutdown, tests).
    pub async fn drain_warm(&self) {
        let drained = self.parts.warm.pools().drain_all();
        for pooled in drained {
            self.kill_pooled(&pooled).await;
        }
    }

    /// Serves create `id` from a pool when one of its shape is idle:
    /// `Ok(None)` when none is (the create starts normally).
    pub(super) async fn claim_pooled(
        &self,
        id: &SandboxId,
        config: &SandboxConfig,
        policy: &EgressPolicy,
    ) -> Result<Option<SandboxInfo>, SandboxError> {
        let p = &self.parts;
        let Some(shape) = shape_of(config) else {
            return Ok(None);
        };
        let Some(pooled) = p.warm.pools().claim(&shape) else {
            return Ok(None);
        };
        let started = Instant::now();
        let old = pooled.read(Clone::clone);
        p.warm.registry.remove(&old.id);
        let mut runtime = std::mem::take(&mut *pooled.lock().await);
        let dir = p.layout.dir(id);
        if let Err(err) = std::fs::rename(pooled.dir(), &dir) {
            // Nothing of `id` exists yet: this create starts normally.
            tracing::warn!(sandbox_id = %id, pool_id = %old.id, %err, "moving a warm sandbox failed");
            p.launcher.release(&mut runtime).await;
            layout::remove_logged(pooled.dir(), "a pooled sandbox");
            return Ok(None);
        }
        let now = now_ms();
        let mut record = new_record(
            id.clone(),
            config.clone(),
            now,
            old.from_snapshot.clone(),
            p.disks.strategy(),
        );
        record.pid = old.pid;
        record.slot = old.slot;
        record.envd_addr = old.envd_addr.clone();
        record.vm_generation = old.vm_generation;
        let token = record.access_token.clone();
        let saved = record
            .save(&dir)
            .map_err(|e| format!("saving the record: {e}"));
        let entry = p.registry.insert(dir.clone(), record);
        let mut guard = entry.lock().await;
        *guard = runtime;
        let result = async {
            saved?;
            p.launcher.moved(&mut guard, &p.layout.run_dir(id))?;
            let url = format!("http://{}", old.envd_addr.as_deref().unwrap_or_default());
            p.launcher
                .claim(
                    &guard,
                    &url,
                    config,
                    policy,
                    token.expose(),
                    old.access_token.expose(),
                )
                .await
        }
        .await;
        let info = self.settle_start(&entry, &mut guard, result).await?;
        p.warm.hits.fetch_add(1, Ordering::Relaxed);
        tracing::info!(sandbox_id = %id, pool_id = %old.id, warm_pool_hit = true,
            duration_ms = started.elapsed().as_millis() as u64, "sandbox running");
        Ok(Some(info))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sandbox::config::EgressSpec;

    fn config(disk_mib: Option<u64>) -> SandboxConfig {
        SandboxConfig {
            template: "base".parse().expect("name"),
            vcpus: 1,
            memory_mib: 512,
            disk_mib,
            timeout_secs: 30,
            on_timeout: TimeoutAction::Pause,
            env_vars: BTreeMap::from([("A".into(), "1".into())]),
            metadata: BTreeMap::new(),
            egress: EgressSpec::default(),
        }
    }

    #[test]
    fn default_when_quickstart_then_one_base_of_the_builtin_shape() {
        assert_eq!(
            default_specs(),
            crate::sandbox::warm::parse_specs("base:1:512:1").expect("specs")
        );
    }

    #[test]
    fn shape_of_when_plain_create_then_its_shape() {
        assert_eq!(
            shape_of(&config(None)),
            Some(WarmShape {
                template: "base".parse().expect("name"),
                vcpus: 1,
                memory_mib: 512,
            })
        );
    }

    #[test]
    fn shape_of_when_own_disk_size_then_no_claim() {
        assert_eq!(shape_of(&config(Some(4096))), None);
    }
}
