//! Metrics history: every [`SAMPLE_EVERY`] the agent reads each running
//! sandbox's envd `/metrics` and keeps the answers in a bounded ring per
//! sandbox ([`KEPT`] samples, an hour), so that a time series can be
//! answered for any window of that hour. A sandbox's ring goes with it.
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use super::{lifecycle::Sandboxes, state::now_ms, SandboxId, SandboxState};
use crate::vmm::Vmm;

/// How often a running sandbox is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept per sandbox (an hour at [`SAMPLE_EVERY`]).
pub const KEPT: usize = 720;
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// One reading of envd's `/metrics` (its JSON object, as envd sent it).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSample {
    pub at_ms: u64,
    pub metrics: serde_json::Value,
}

/// The rings of every sampled sandbox.
#[derive(Debug, Default)]
pub struct MetricsHistory {
    rings: Mutex<HashMap<SandboxId, VecDeque<MetricsSample>>>,
}

impl MetricsHistory {
    fn rings(&self) -> std::sync::MutexGuard<'_, HashMap<SandboxId, VecDeque<MetricsSample>>> {
        self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a sample, dropping the oldest beyond [`KEPT`].
    pub fn push(&self, id: &SandboxId, sample: MetricsSample) {
        let mut rings = self.rings();
        let ring = rings.entry(id.clone()).or_default();
        if ring.len() == KEPT {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    /// The samples of `id` taken in `[start_ms, end_ms]`, oldest first
    /// (`None`: unbounded on that side).
    pub fn range(
        &self,
        id: &SandboxId,
        start_ms: Option<u64>,
        end_ms: Option<u64>,
    ) -> Vec<MetricsSample> {
        let rings = self.rings();
        rings
            .get(id)
            .into_iter()
            .flatten()
            .filter(|s| start_ms.is_none_or(|start| s.at_ms >= start))
            .filter(|s| end_ms.is_none_or(|end| s.at_ms <= end))
            .cloned()
            .collect()
    }

    /// Drops the rings of sandboxes not in `live`.
    pub fn retain(&self, live: &HashSet<SandboxId>) {
        self.rings().retain(|id, _| live.contains(id));
    }
}

/// Samples every running sandbox each [`SAMPLE_EVERY`] until the
/// sandboxes are dropped everywhere else.
pub fn spawn_sampler<V: Vmm>(
    sandboxes: &Arc<Sandboxes<V>>,
    history: &Arc<MetricsHistory>,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Sandboxes<V>> = Arc::downgrade(sandboxes);
    let history = Arc::downgrade(history);
    let http = reqwest::Client::builder()
        .timeout(READ_TIMEOUT)
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SAMPLE_EVERY).await;
            let (Some(sandboxes), Some(history)) = (weak.upgrade(), history.upgrade()) else {
                return;
            };
            sample_all(&sandboxes, &history, &http).await;
        }
    })
}

async fn sample_all<V: Vmm>(
    sandboxes: &Sandboxes<V>,
    history: &MetricsHistory,
    http: &reqwest::Client,
) {
    let all = sandboxes.list();
    history.retain(&all.iter().map(|s| s.id.clone()).collect());
    for sandbox in all.iter().filter(|s| s.state == SandboxState::Running) {
        let Ok(target) = sandboxes.envd_target(&sandbox.id) else {
            continue;
        };
        let read = http
            .get(format!("{}/metrics", target.url))
            .header("X-Access-Token", target.token.expose())
            .send()
            .await;
        let metrics = match read {
            Ok(answer) if answer.status().is_success() => answer.json().await.ok(),
            _ => None,
        };
        if let Some(metrics) = metrics {
            let sample = MetricsSample {
                at_ms: now_ms(),
                metrics,
            };
            history.push(&sandbox.id, sample);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64) -> MetricsSample {
        MetricsSample {
            at_ms,
            metrics: serde_json::json!({"cpu_count": 1}),
        }
    }

    #[test]
    fn push_when_ring_full_then_oldest_dropped() {
        let history = MetricsHistory::default();
        let id = SandboxId::generate();
        for at in 0..(KEPT as u64 + 3) {
            history.push(&id, sample(at));
        }
        let all = history.range(&id, None, None);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all.first().map(|s| s.at_ms), Some(3));
    }

    #[test]
    fn range_when_window_given_then_only_samples_inside_it_oldest_first() {
        let history = MetricsHistory::default();
        let id = SandboxId::generate();
        for at in [10, 20, 30, 40] {
            history.push(&id, sample(at));
        }
        let inside: Vec<u64> = history
            .range(&id, Some(20), Some(30))
            .iter()
            .map(|s| s.at_ms)
            .collect();
        assert_eq!(inside, [20, 30]);
        assert!(history.range(&SandboxId::generate(), None, None).is_empty());
    }

    #[test]
    fn retain_when_sandbox_gone_then_its_ring_dropped() {
        let history = MetricsHistory::default();
        let (kept, gone) = (SandboxId::generate(), SandboxId::generate());
        history.push(&kept, sample(1));
        history.push(&gone, sample(1));
        history.retain(&HashSet::from([kept.clone()]));
        assert_eq!(history.range(&kept, None, None).len(), 1);
        assert!(history.range(&gone, None, None).is_empty());
    }
}
