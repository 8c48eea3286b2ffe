//! The start gate: how many VMs may start (spawn, restore, wait for envd,
//! `/init`) at once. Starting a VM is the CPU-heaviest thing the agent does
//! (under TCG the guest's first instructions are translated then); fifty at
//! once make every one of them slow and all of them late. The gate lets
//! `limit` (four per CPU by default) through and queues the rest first
//! come, first served (tokio's semaphore is fair), so a burst finishes in
//! order and each waiter's time is its queue position, not the whole burst.
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, Mutex,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The default limit's starts per CPU.
pub const STARTS_PER_CPU: usize = 4;

/// A fair limit on concurrent VM starts; cheap to clone.
#[derive(Debug, Clone)]
pub struct StartGate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    permits: Arc<Semaphore>,
    limit: Mutex<usize>,
    waiting: AtomicUsize,
}

/// Held while a VM starts; the next waiter goes when it is dropped.
#[derive(Debug)]
pub struct StartPermit {
    _permit: OwnedSemaphorePermit,
}

impl StartGate {
    /// A gate letting `limit` starts through at once (at least one).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(limit)),
                limit: Mutex::new(limit),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Four starts per CPU: a start is not all CPU (the guest waits too),
    /// so one per CPU left the CPUs idle; measured on 2 cores under TCG, 50
    /// creates at once: median 17.8 s at 2 at a time, 9.9 s at 8, 17.2 s
    /// unbounded (docs/performance.md).
    pub fn for_host() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cpus.saturating_mul(STARTS_PER_CPU))
    }

    /// Starts let through at once.
    pub fn limit(&self) -> usize {
        *self.inner.limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts queued behind the gate now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// Changes the limit (at least one); starts already through keep going.
    pub fn set_limit(&self, limit: usize) {
        let limit = limit.max(1);
        let mut current = self.inner.limit.lock().unwrap_or_else(|e| e.into_inner());
        if limit > *current {
            self.inner.permits.add_permits(limit - *current);
        } else {
            let mut missing = *current - limit;
            // Permits held now are taken back as they come home.
            missing -= self.inner.permits.forget_permits(missing);
            if missing > 0 {
                let permits = Arc::clone(&self.inner.permits);
                tokio::spawn(async move {
                    if let Ok(taken) = permits.acquire_many_owned(missing as u32).await {
                        taken.forget();
                    }
                });
            }
        }
        *current = limit;
    }

    /// Waits for this start's turn.
    pub async fn enter(&self) -> StartPermit {
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = Arc::clone(&self.inner.permits).acquire_owned().await;
        self.inner.waiting.fetch_sub(1, Ordering::Relaxed);
        #[expect(clippy::expect_used, reason = "the semaphore is never closed")]
        let permit = permit.expect("the start gate is never closed");
        StartPermit { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn enter_when_limit_reached_then_next_waits_until_a_permit_is_dropped() {
        let gate = StartGate::new(2);
        let first = gate.enter().await;
        let _second = gate.enter().await;

        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await }
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        assert_eq!(gate.waiting(), 1);

        drop(first);
        let _third = waiter.await.expect("waiter");
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test]
    async fn enter_when_many_wait_then_served_in_arrival_order() {
        let gate = StartGate::new(1);
        let held = gate.enter().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for n in 0..5 {
            let (queued, tx) = (gate.clone(), tx.clone());
            tokio::spawn(async move {
                let _permit = queued.enter().await;
                tx.send(n).expect("send");
            });
            // Each waiter queues before the next one is spawned.
            while gate.waiting() <= n {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        let mut order = Vec::new();
        for _ in 0..5 {
            order.push(rx.recv().await.expect("recv"));
        }
        assert_eq!(order, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn new_when_zero_then_one_start_at_a_time() {
        assert_eq!(StartGate::new(0).limit(), 1);
    }

    #[tokio::test]
    async fn set_limit_when_raised_then_more_enter_at_once() {
        let gate = StartGate::new(1);
        gate.set_limit(3);
        let _a = gate.enter().await;
        let _b = gate.enter().await;
        let _c = gate.enter().await;
        assert_eq!(gate.limit(), 3);
    }

    #[tokio::test]
    async fn set_limit_when_lowered_then_fewer_enter() {
        let gate = StartGate::new(3);
        gate.set_limit(1);
        let _a = gate.enter().await;
        let blocked = tokio::time::timeout(Duration::from_millis(20), gate.enter()).await;
        assert!(blocked.is_err());
    }
}
