//! The live registry: every sandbox this agent knows, each an [`Entry`] with
//! its persisted record and its per-sandbox operation lock. The registry
//! owns the map; an entry owns its record and writes it to disk on every
//! change.
//!
//! Locking: `record` is a short std mutex (reads, updates); `runtime` is a
//! tokio mutex held for the whole of an operation, so two operations on one
//! sandbox never interleave. `R` is what exists while an operation runs (the
//! launcher's VM and network), left generic so this module sits below it.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
};

use super::{
    id::SandboxId,
    record::{SandboxInfo, SandboxRecord},
    state::SandboxState,
    SandboxError,
};

/// One sandbox: its record and its operation lock.
pub struct Entry<R> {
    dir: PathBuf,
    record: Mutex<SandboxRecord>,
    runtime: tokio::sync::Mutex<R>,
}

impl<R> std::fmt::Debug for Entry<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl<R: Default> Entry<R> {
    fn new(dir: PathBuf, record: SandboxRecord) -> Self {
        Self {
            dir,
            record: Mutex::new(record),
            runtime: tokio::sync::Mutex::default(),
        }
    }
}

impl<R> Entry<R> {
    /// The sandbox's directory, where its record is saved.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the record under its lock.
    pub fn read<T>(&self, f: impl FnOnce(&SandboxRecord) -> T) -> T {
        f(&self.record.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn info(&self) -> SandboxInfo {
        self.read(|r| SandboxInfo::from(r))
    }

    pub fn state(&self) -> SandboxState {
        self.read(SandboxRecord::state)
    }

    /// Takes the sandbox's operation lock.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, R> {
        self.runtime.lock().await
    }

    /// Applies `change` to the record and persists it (while the directory
    /// exists: a destroyed sandbox's record is not written back). A failed
    /// write is an error, the change stays in memory.
    pub fn update(
        &self,
        change: impl FnOnce(&mut SandboxRecord) -> Result<(), SandboxError>,
    ) -> Result<SandboxInfo, SandboxError> {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut record)?;
        if self.dir.is_dir() {
            record
                .save(&self.dir)
                .map_err(|source| SandboxError::storage(&self.dir, source))?;
        }
        Ok(SandboxInfo::from(&*record))
    }

    pub fn transition(
        &self,
        to: SandboxState,
        reason: Option<String>,
    ) -> Result<SandboxInfo, SandboxError> {
        self.update(|r| Ok(r.lifecycle.transition(to, reason)?))
    }
}

/// Every sandbox of this agent by id; cheap reads, short writes.
pub struct Registry<R> {
    map: RwLock<HashMap<SandboxId, Arc<Entry<R>>>>,
}

impl<R> Default for Registry<R> {
    fn default() -> Self {
        Self {
            map: RwLock::default(),
        }
    }
}

impl<R: Default> Registry<R> {
    /// Adds (or replaces) the sandbox of `record`, kept in `dir`.
    pub fn insert(&self, dir: PathBuf, record: SandboxRecord) -> Arc<Entry<R>> {
        let id = record.id.clone();
        let entry = Arc::new(Entry::new(dir, record));
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::clone(&entry));
        entry
    }
}

impl<R> Registry<R> {
    pub fn get(&self, id: &SandboxId) -> Result<Arc<Entry<R>>, SandboxError> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| SandboxError::NotFound(id.clone()))
    }

    pub fn contains(&self, id: &SandboxId) -> bool {
        self.get(id).is_ok()
    }

    pub fn remove(&self, id: &SandboxId) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Every fork layer some sandbox's disk still reads.
    pub fn layers_in_use(&self) -> std::collections::HashSet<PathBuf> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .flat_map(|e| e.read(|r| r.layers.clone()))
            .collect()
    }

    /// Every sandbox, oldest first.
    pub fn list(&self) -> Vec<SandboxInfo> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<SandboxInfo> = map.values().map(|e| e.info()).collect();
        all.sort_by_key(|s| s.created_at_ms);
        all
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sandbox::{
        config::{EgressSpec, SandboxConfig, TimeoutAction},
        id::AccessToken,
        record::RECORD_FILE,
        state::Lifecycle,
    };

    fn record() -> SandboxRecord {
        SandboxRecord {
            id: SandboxId::generate(),
            config: SandboxConfig {
                template: "base".parse().expect("name"),
                vcpus: 1,
                memory_mib: 256,
                disk_mib: None,
                timeout_secs: 60,
                on_timeout: TimeoutAction::Kill,
                env_vars: BTreeMap::new(),
                metadata: BTreeMap::new(),
                egress: EgressSpec::default(),
            },
            lifecycle: Lifecycle::new(),
            access_token: AccessToken::generate(),
            created_at_ms: 1,
            timeout_at_ms: 2,
            pid: None,
            slot: None,
            envd_addr: None,
            from_snapshot: None,
            disk_strategy: None,
            disk_file: None,
            layers: Vec::new(),
            paused_without_memory: false,
            last_cpu_ms: None,
            vm_generation: 0,
        }
    }

    #[test]
    fn update_when_saved_then_record_on_disk_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::<()>::default();
        let entry = registry.insert(dir.path().to_path_buf(), record());

        entry
            .transition(SandboxState::Running, None)
            .expect("updated");

        let saved = SandboxRecord::load(dir.path()).expect("saved");
        assert_eq!(saved.state(), SandboxState::Running);
    }

    #[test]
    fn update_when_record_cannot_be_written_then_storage_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The temporary file's name is taken by a directory: the write fails.
        std::fs::create_dir(dir.path().join(format!("{RECORD_FILE}.tmp"))).expect("blocker");
        let registry = Registry::<()>::default();
        let entry = registry.insert(dir.path().to_path_buf(), record());

        let err = entry
            .transition(SandboxState::Running, None)
            .expect_err("write fails");

        assert!(matches!(err, SandboxError::Storage { .. }), "{err}");
    }

    #[test]
    fn list_when_several_then_oldest_first_and_removed_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::<()>::default();
        let mut newer = record();
        newer.created_at_ms = 10;
        let older = record();
        let older_id = older.id.clone();
        registry.insert(dir.path().join("a"), newer);
        registry.insert(dir.path().join("b"), older);

        assert_eq!(registry.list()[0].id, older_id);
        registry.remove(&older_id);

        assert_eq!(registry.list().len(), 1);
        assert!(matches!(
            registry.get(&older_id),
            Err(SandboxError::NotFound(_))
        ));
    }
}
