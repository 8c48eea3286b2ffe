//! [`Hosts`]: the control plane's connections to host agents, a cache in
//! front of the host records. The database owns which hosts exist and how
//! to reach them ([`HostDirectory`]); a replica that has never seen a host
//! dials it on first use, so any replica behind the same database reaches
//! any registered host. Entries are refreshed on heartbeats and dropped
//! when a host is deleted. Development and tests may pin an agent that has
//! no registration (`CP_AGENT_URL`, fakes).
use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use wrenn_types::HostId;

use super::{AgentApi, Connector, HostTarget};

/// Why the host records could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the host records")]
pub struct DirectoryError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where [`Hosts`] learns how to reach a host: the host records.
#[async_trait::async_trait]
pub trait HostDirectory: Send + Sync + std::fmt::Debug {
    /// How to reach `host_id`; `None` when it has no registration (unknown,
    /// pending or deleted).
    async fn target(&self, host_id: &HostId) -> Result<Option<HostTarget>, DirectoryError>;
    /// Every registered host.
    async fn registered(&self) -> Result<Vec<HostTarget>, DirectoryError>;
}

/// Why there is no connection to a host.
#[derive(Debug, thiserror::Error)]
pub enum HostUnavailable {
    /// No registered host (and no pinned agent) has this id.
    #[error("host {0} is not registered")]
    NotRegistered(String),
    /// The host's record names an address or certificate we cannot dial.
    #[error("cannot make a client for host {host_id}")]
    Dial {
        host_id: HostId,
        #[source]
        source: anyhow::Error,
    },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

#[derive(Debug, Clone)]
struct Entry {
    /// What the client was made from; `None` for a pinned agent.
    target: Option<HostTarget>,
    agent: Arc<dyn AgentApi>,
}

/// The host agents this control plane can call.
#[derive(Debug)]
pub struct Hosts {
    cache: RwLock<BTreeMap<HostId, Entry>>,
    connector: Arc<dyn Connector>,
    directory: Arc<dyn HostDirectory>,
}

impl Hosts {
    pub fn new(connector: Arc<dyn Connector>, directory: Arc<dyn HostDirectory>) -> Self {
        Self {
            cache: RwLock::default(),
            connector,
            directory,
        }
    }

    /// Pins `agent` as `host_id` for the life of this process: a host with
    /// no registration (the `CP_AGENT_URL` shortcut, test fakes).
    pub fn pin(&self, host_id: HostId, agent: Arc<dyn AgentApi>) {
        self.write().insert(
            host_id,
            Entry {
                target: None,
                agent,
            },
        );
    }

    /// The agent of `host_id`: from the cache, else dialled from its record.
    pub async fn agent<H: AsRef<str> + ?Sized>(
        &self,
        host_id: &H,
    ) -> Result<Arc<dyn AgentApi>, HostUnavailable> {
        let raw = host_id.as_ref();
        let id = HostId::try_from(raw).map_err(|_| HostUnavailable::NotRegistered(raw.into()))?;
        if let Some(entry) = self.read().get(&id) {
            return Ok(entry.agent.clone());
        }
        self.refresh(&id).await
    }

    /// Re-reads `host_id`'s record (a heartbeat, a registration): dials it
    /// anew when its address or certificate changed, forgets it when it no
    /// longer has a registration.
    pub async fn refresh(&self, host_id: &HostId) -> Result<Arc<dyn AgentApi>, HostUnavailable> {
        match self.directory.target(host_id).await? {
            Some(target) => self.connect(target),
            None => {
                let mut cache = self.write();
                match cache.get(host_id) {
                    Some(entry) if entry.target.is_none() => Ok(entry.agent.clone()),
                    _ => {
                        cache.remove(host_id);
                        Err(HostUnavailable::NotRegistered(host_id.to_string()))
                    }
                }
            }
        }
    }

    /// Forgets `host_id` (deleted); a pinned agent stays.
    pub fn forget(&self, host_id: &HostId) {
        let mut cache = self.write();
        if cache.get(host_id).is_some_and(|e| e.target.is_some()) {
            cache.remove(host_id);
        }
    }

    /// Every registered host and every pinned one (the reconciler, template
    /// deletion). Hosts that cannot be dialled are left out and logged.
    pub async fn all(&self) -> Result<Vec<(HostId, Arc<dyn AgentApi>)>, DirectoryError> {
        let registered = self.directory.registered().await?;
        // Hosts deleted through another replica leave this cache here.
        self.write().retain(|id, entry| {
            entry.target.is_none() || registered.iter().any(|t| t.host_id == *id)
        });
        let mut all = Vec::with_capacity(registered.len());
        for target in registered {
            let host_id = target.host_id.clone();
            match self.connect(target) {
                Ok(agent) => all.push((host_id, agent)),
                Err(err) => tracing::warn!(%host_id, error = %err, "cannot dial a registered host"),
            }
        }
        let pinned: Vec<_> = self
            .read()
            .iter()
            .filter(|(_, e)| e.target.is_none())
            .map(|(id, e)| (id.clone(), e.agent.clone()))
            .collect();
        all.extend(pinned);
        Ok(all)
    }

    /// The cached client for `target`, or a new one when it changed.
    fn connect(&self, target: HostTarget) -> Result<Arc<dyn AgentApi>, HostUnavailable> {
        if let Some(entry) = self.read().get(&target.host_id) {
            if entry.target.as_ref() == Some(&target) {
                return Ok(entry.agent.clone());
            }
        }
        let agent = self
            .connector
            .connect(&target)
            .map_err(|source| HostUnavailable::Dial {
                host_id: target.host_id.clone(),
                source,
            })?;
        self.write().insert(
            target.host_id.clone(),
            Entry {
                target: Some(target),
                agent: agent.clone(),
            },
        );
        Ok(agent)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<HostId, Entry>> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<HostId, Entry>> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }
}
