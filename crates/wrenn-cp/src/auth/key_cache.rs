//! This replica's short-lived memory of API keys it has verified, so that a
//! burst of requests with one key costs one database lookup per [`TTL`]
//! instead of one per request.
//!
//! What is cached is the outcome of a successful lookup (key id, team,
//! expiry), keyed by the key's SHA-256 digest; never the key itself, never
//! a refusal. Correct across replicas because no entry is trusted beyond
//! [`TTL`]: a key revoked (or its creator removed, or its team or creator
//! deleted) through another replica stops working here within [`TTL`].
//! Through this replica it stops at once: every database function that
//! revokes or deletes keys calls [`forget_all`] after its change is
//! committed, and a lookup that was under way when that happened does not
//! cache what it read ([`KeyCache::insert`] checks the generation the
//! lookup started in). Expiry is checked on every request, cached or not.
//!
//! One cache per process, like the replica itself: the functions that
//! revoke keys are database functions with no handle on the request state.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

/// How long a verified key is trusted without asking the database again:
/// the bound on how late another replica's revocation is seen here.
pub const TTL: Duration = Duration::from_secs(1);
/// Beyond this many entries the expired ones are swept, then all if need be.
const MAX_ENTRIES: usize = 10_000;

/// SHA-256 of a key, raw.
pub type Digest = [u8; 32];

/// What a successful lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    pub key_id: String,
    pub team_id: String,
    /// Unix ms; checked on every use.
    pub expires_at: Option<i64>,
}

#[derive(Debug)]
struct Entry {
    key: VerifiedKey,
    until: Instant,
}

#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<Digest, Entry>>,
    generation: AtomicU64,
}

impl KeyCache {
    /// The key with this digest, if verified less than [`TTL`] ago and not
    /// forgotten since.
    pub fn get(&self, digest: &Digest) -> Option<VerifiedKey> {
        let entries = self.lock();
        let entry = entries.get(digest)?;
        (entry.until > Instant::now()).then(|| entry.key.clone())
    }

    /// The generation to pass to [`insert`](Self::insert): read it before
    /// the database lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a lookup's result, unless keys were forgotten since it
    /// started (its read may predate a revocation).
    pub fn insert(&self, generation: u64, digest: Digest, key: VerifiedKey) {
        let mut entries = self.lock();
        // Checked under the lock that `forget_all` takes to clear.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            Entry {
                key,
                until: now + TTL,
            },
        );
    }

    /// Drops every entry and refuses to cache lookups under way.
    pub fn forget_all(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Entry>> {
        // The map stays consistent even if a holder panicked.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// This process's cache.
pub fn shared() -> &'static KeyCache {
    static CACHE: OnceLock<KeyCache> = OnceLock::new();
    CACHE.get_or_init(KeyCache::default)
}

/// Forgets every verified key of this process: call after committing any
/// change that may invalidate a key (revocation, a member's removal, a
/// user's or team's deletion).
pub fn forget_all() {
    shared().forget_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> VerifiedKey {
        VerifiedKey {
            key_id: "key_1".into(),
            team_id: "team_1".into(),
            expires_at: None,
        }
    }

    #[test]
    fn get_when_inserted_then_found_and_other_digest_not() {
        let cache = KeyCache::default();
        cache.insert(cache.generation(), [1; 32], key());
        assert_eq!(cache.get(&[1; 32]), Some(key()));
        assert_eq!(cache.get(&[2; 32]), None);
    }

    #[test]
    fn get_when_forgotten_then_none() {
        let cache = KeyCache::default();
        cache.insert(cache.generation(), [1; 32], key());
        cache.forget_all();
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn insert_when_forgotten_during_lookup_then_not_cached() {
        let cache = KeyCache::default();
        let started = cache.generation();
        cache.forget_all();
        cache.insert(started, [1; 32], key());
        assert_eq!(cache.get(&[1; 32]), None);
        cache.insert(cache.generation(), [1; 32], key());
        assert_eq!(cache.get(&[1; 32]), Some(key()));
    }

    #[test]
    fn insert_when_full_then_bounded() {
        let cache = KeyCache::default();
        for i in 0..=MAX_ENTRIES {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(cache.generation(), digest, key());
        }
        assert!(cache.lock().len() <= MAX_ENTRIES);
    }
}
