//! The proxy's routing table: sandbox id → where and how its traffic goes,
//! read from the sandbox records and cached per replica.
//!
//! A plain map with expiry rather than a cache crate: entries are tiny, the
//! policy is two TTLs and explicit invalidation, and no new dependency is
//! needed. Correct across replicas because no entry is trusted beyond its
//! TTL and every doubt goes back to the database: a running route lives
//! [`RUNNING_TTL`] and is dropped at once when this replica changes the
//! sandbox's lifecycle or when the host's agent answers "not found" or "not
//! running" (another replica paused or destroyed it); any other route
//! (paused, stopped, unknown) lives only [`OTHER_TTL`], so a resume through
//! another replica is seen within a second. The traffic fields never change
//! after create.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{db::sandboxes::SandboxRow, lifecycle::SandboxState};

pub const RUNNING_TTL: Duration = Duration::from_secs(10);
pub const OTHER_TTL: Duration = Duration::from_secs(1);
/// Beyond this many entries the expired ones are swept, then all if need be.
const MAX_ENTRIES: usize = 100_000;

/// What the proxy needs of a sandbox record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub team_id: String,
    pub host_id: Option<String>,
    pub state: SandboxState,
    pub public_traffic: bool,
    pub traffic_token_hash: Option<String>,
    pub auto_resume: bool,
}

impl From<&SandboxRow> for Route {
    fn from(row: &SandboxRow) -> Self {
        Self {
            team_id: row.team_id.clone(),
            host_id: row.host_id.clone(),
            state: row.state,
            public_traffic: row.public_traffic,
            traffic_token_hash: row.traffic_token_hash.clone(),
            auto_resume: row.auto_resume,
        }
    }
}

/// A cached lookup: `None` for an id with no record.
type Lookup = Option<Route>;

/// This replica's cache of [`Route`]s, and the per-sandbox locks that let
/// one request at a time resume a paused sandbox.
#[derive(Debug, Default)]
pub struct RouteCache {
    entries: Mutex<HashMap<String, (Lookup, Instant)>>,
    resuming: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RouteCache {
    /// The cached lookup of `id`, if fresh.
    pub fn get(&self, id: &str) -> Option<Lookup> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(id)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(lookup, _)| lookup.clone())
    }

    pub fn put(&self, id: &str, lookup: Lookup) {
        let ttl = match &lookup {
            Some(route) if route.state == SandboxState::Running => RUNNING_TTL,
            _ => OTHER_TTL,
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(id.to_owned(), (lookup, Instant::now() + ttl));
    }

    /// Forgets `id` (its lifecycle changed, or its host doubts the route).
    pub fn invalidate(&self, id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The lock under which one request resumes paused sandbox `id`.
    pub fn resume_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.resuming.lock().unwrap_or_else(|e| e.into_inner());
        // Locks nobody holds or waits for are dropped as new ones are made.
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(locks.entry(id.to_owned()).or_default())
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(state: SandboxState) -> Route {
        Route {
            team_id: "team".into(),
            host_id: Some("host".into()),
            state,
            public_traffic: true,
            traffic_token_hash: None,
            auto_resume: false,
        }
    }

    #[test]
    fn get_when_put_then_cached_until_invalidated() {
        let cache = RouteCache::default();
        assert_eq!(cache.get("a"), None);
        cache.put("a", Some(route(SandboxState::Running)));
        assert_eq!(cache.get("a"), Some(Some(route(SandboxState::Running))));
        cache.invalidate("a");
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn get_when_expired_then_absent() {
        let cache = RouteCache::default();
        cache.put("a", None);
        cache.entries.lock().unwrap().get_mut("a").unwrap().1 =
            Instant::now() - Duration::from_millis(1);
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn put_when_not_running_then_short_ttl() {
        let cache = RouteCache::default();
        cache.put("p", Some(route(SandboxState::Paused)));
        cache.put("r", Some(route(SandboxState::Running)));
        let entries = cache.entries.lock().unwrap();
        let left = |id: &str| entries[id].1.saturating_duration_since(Instant::now());
        assert!(left("p") <= OTHER_TTL);
        assert!(left("r") > OTHER_TTL);
    }

    #[test]
    fn resume_lock_when_same_id_then_same_lock() {
        let cache = RouteCache::default();
        let a = cache.resume_lock("a");
        let b = cache.resume_lock("a");
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        let c = cache.resume_lock("b");
        assert_eq!(cache.resuming.lock().unwrap().len(), 1);
        drop(c);
    }
}
