//! What the warm pools hold: the pooled sandboxes' own registry and
//! directory, the bookkeeping of [`super::warm`] over them, and the counts
//! host metrics report. The lifecycle's `pool` module makes and claims
//! them.
use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc, Mutex,
};

use super::{
    id::TemplateName,
    launcher::Runtime,
    layout::Layout,
    registry::{Entry, Registry},
    warm::{Capped, HostRoom, PoolLoad, WarmPools},
};
use crate::vmm::Vmm;

/// A pooled sandbox: its entry in the pool's own registry.
pub(super) type Pooled<V> = Arc<Entry<Runtime<<V as Vmm>::Vm>>>;

/// What the host metrics and heartbeat say of the pools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WarmReport {
    /// Idle pooled sandboxes now.
    pub warm: usize,
    /// Creates served from a pool since start.
    pub hits: u64,
    /// Pools the host could not hold in full.
    pub capped: Vec<Capped>,
    /// Each pool now.
    pub pools: Vec<PoolLoad>,
}

/// The pooled sandboxes of this host.
pub struct WarmStore<V: Vmm> {
    pub(super) registry: Registry<Runtime<<V as Vmm>::Vm>>,
    pub(super) layout: Layout,
    pools: Mutex<WarmPools<Pooled<V>>>,
    pub(super) reserve_mib: Mutex<u64>,
    pub(super) capped: Mutex<Vec<Capped>>,
    pub(super) hits: AtomicU64,
    /// Pools are set once per manager.
    pub(super) started: AtomicBool,
}

impl<V: Vmm> WarmStore<V> {
    /// No pools yet (the lifecycle's `start_warm_pools` sets them); `layout` is the
    /// sandboxes' layout, the pool's lives next to it.
    pub fn new(layout: &Layout) -> Self {
        let room = HostRoom {
            available_mib: 0,
            reserve_mib: 0,
        };
        Self {
            registry: Registry::default(),
            layout: layout.warm(),
            pools: Mutex::new(WarmPools::new(&[], room).0),
            reserve_mib: Mutex::new(0),
            capped: Mutex::default(),
            hits: AtomicU64::new(0),
            started: AtomicBool::new(false),
        }
    }

    /// `<data>/warm`, where pooled sandboxes live.
    pub fn dir(&self) -> &std::path::Path {
        self.layout.sandboxes()
    }

    pub(super) fn pools(&self) -> std::sync::MutexGuard<'_, WarmPools<Pooled<V>>> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn room(&self) -> HostRoom {
        HostRoom::now(*self.reserve_mib.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// See `SandboxManager::set_warm_reserve_mib`.
    pub fn set_reserve_mib(&self, reserve_mib: u64) {
        *self.reserve_mib.lock().unwrap_or_else(|e| e.into_inner()) = reserve_mib;
    }

    pub fn report(&self) -> WarmReport {
        let (warm, pools) = {
            let pools = self.pools();
            (pools.warm(), pools.loads())
        };
        WarmReport {
            warm,
            pools,
            hits: self.hits.load(Ordering::Relaxed),
            capped: self
                .capped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Idle pooled sandboxes of `template`.
    pub fn warm_of(&self, template: &TemplateName) -> usize {
        self.pools().warm_of(template)
    }
}
