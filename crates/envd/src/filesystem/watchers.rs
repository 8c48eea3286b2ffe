//! The registry of polling watchers (`CreateWatcher` / `GetWatcherEvents` /
//! `RemoveWatcher`): ids, their pending events and the inotify tasks that
//! fill them. A leaf below the shared state, so the state owns it without
//! depending on the handlers that use it.
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use tokio::task::JoinHandle;
use wrenn_proto::filesystem::FilesystemEvent;

/// Events a polling watcher keeps between polls; older ones are dropped.
const MAX_PENDING: usize = 10_000;

/// Watchers created with `CreateWatcher`, by id.
#[derive(Debug, Default)]
pub struct Watchers {
    next: AtomicU64,
    inner: Mutex<HashMap<String, PollingWatcher>>,
}

#[derive(Debug)]
struct PollingWatcher {
    events: Arc<Mutex<Vec<FilesystemEvent>>>,
    task: JoinHandle<()>,
}

/// Where a watcher's task leaves its events until the next poll.
#[derive(Debug, Clone, Default)]
pub struct EventQueue(Arc<Mutex<Vec<FilesystemEvent>>>);

impl EventQueue {
    /// Queues an event, dropping the oldest past [`MAX_PENDING`].
    pub fn push(&self, event: FilesystemEvent) {
        let mut pending = lock(&self.0);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(event);
    }
}

impl Watchers {
    /// Registers a running watcher; returns its new id (`w1`, `w2`, …).
    pub fn insert(&self, events: EventQueue, task: JoinHandle<()>) -> String {
        let id = format!("w{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let watcher = PollingWatcher {
            events: events.0,
            task,
        };
        lock(&self.inner).insert(id.clone(), watcher);
        id
    }

    /// The events since the last poll, or `None` for an unknown id.
    pub fn take_events(&self, id: &str) -> Option<Vec<FilesystemEvent>> {
        let table = lock(&self.inner);
        let events = std::mem::take(&mut *lock(&table.get(id)?.events));
        Some(events)
    }

    /// Stops and forgets a watcher; `false` for an unknown id.
    pub fn remove(&self, id: &str) -> bool {
        match lock(&self.inner).remove(id) {
            Some(watcher) => {
                watcher.task.abort();
                true
            }
            None => false,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
