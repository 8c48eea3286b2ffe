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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{
        agent::{
            transport::AgentTransport, AgentCreate, AgentError, AgentResult, AgentSandbox,
            AgentTemplate, EnvdRoute,
        },
        secret::SecretString,
    };

    /// An agent that only says where it was dialled (`envd().base_url`).
    #[derive(Debug)]
    struct Dialled(String);

    fn refused<T>() -> AgentResult<T> {
        Err(AgentError::Unavailable("test agent".into()))
    }

    #[async_trait::async_trait]
    impl AgentApi for Dialled {
        async fn create(&self, _: AgentCreate) -> AgentResult<AgentSandbox> {
            refused()
        }
        async fn get(&self, _: &str) -> AgentResult<AgentSandbox> {
            refused()
        }
        async fn list(&self) -> AgentResult<Vec<AgentSandbox>> {
            refused()
        }
        async fn destroy(&self, _: &str) -> AgentResult<()> {
            refused()
        }
        async fn pause(&self, _: &str) -> AgentResult<AgentSandbox> {
            refused()
        }
        async fn resume(&self, _: &str) -> AgentResult<AgentSandbox> {
            refused()
        }
        async fn set_timeout(&self, _: &str, _: Option<u64>) -> AgentResult<AgentSandbox> {
            refused()
        }
        async fn snapshot(&self, _: &str, _: &str, _: bool) -> AgentResult<AgentTemplate> {
            refused()
        }
        async fn delete_template(&self, _: &str) -> AgentResult<()> {
            refused()
        }
        async fn template_images(&self) -> AgentResult<Vec<super::super::AgentTemplateImage>> {
            refused()
        }
        fn envd(&self, _: &str) -> EnvdRoute {
            EnvdRoute {
                base_url: self.0.clone(),
                headers: Vec::new(),
                transport: AgentTransport::new(None),
                http: reqwest::Client::new(),
            }
        }
    }

    /// Host records in memory, counting lookups.
    #[derive(Debug, Default)]
    struct Records {
        targets: Mutex<BTreeMap<HostId, HostTarget>>,
        lookups: Mutex<usize>,
    }

    impl Records {
        fn set(&self, id: &HostId, address: &str) {
            let target = HostTarget {
                host_id: id.clone(),
                address: address.to_owned(),
                secret: SecretString::new("s"),
                tls_fingerprint: None,
            };
            self.targets.lock().unwrap().insert(id.clone(), target);
        }
    }

    #[async_trait::async_trait]
    impl HostDirectory for Arc<Records> {
        async fn target(&self, id: &HostId) -> Result<Option<HostTarget>, DirectoryError> {
            *self.lookups.lock().unwrap() += 1;
            Ok(self.targets.lock().unwrap().get(id).cloned())
        }
        async fn registered(&self) -> Result<Vec<HostTarget>, DirectoryError> {
            Ok(self.targets.lock().unwrap().values().cloned().collect())
        }
    }

    #[derive(Debug)]
    struct Dial;

    impl Connector for Dial {
        fn connect(&self, target: &HostTarget) -> anyhow::Result<Arc<dyn AgentApi>> {
            Ok(Arc::new(Dialled(target.address.clone())))
        }
    }

    fn hosts() -> (Hosts, Arc<Records>) {
        let records = Arc::new(Records::default());
        (
            Hosts::new(Arc::new(Dial), Arc::new(records.clone())),
            records,
        )
    }

    fn host_a() -> HostId {
        HostId::try_from("host_a").unwrap()
    }

    #[tokio::test]
    async fn agent_when_never_seen_then_dialled_from_record_and_cached() {
        let (hosts, records) = hosts();
        records.set(&host_a(), "10.0.0.1:1");
        let first = hosts.agent("host_a").await.expect("dialled");
        let again = hosts.agent("host_a").await.expect("cached");
        assert_eq!(first.envd("x").base_url, "10.0.0.1:1");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*records.lookups.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn refresh_when_record_moved_then_new_client() {
        let (hosts, records) = hosts();
        records.set(&host_a(), "10.0.0.1:1");
        hosts.agent("host_a").await.expect("dialled");
        records.set(&host_a(), "10.0.0.2:1");
        let moved = hosts.refresh(&host_a()).await.expect("dialled");
        assert_eq!(moved.envd("x").base_url, "10.0.0.2:1");
    }

    #[tokio::test]
    async fn refresh_when_record_deleted_then_forgotten() {
        let (hosts, records) = hosts();
        records.set(&host_a(), "10.0.0.1:1");
        hosts.agent("host_a").await.expect("dialled");
        records.targets.lock().unwrap().clear();
        let refreshed = hosts.refresh(&host_a()).await;
        assert!(matches!(refreshed, Err(HostUnavailable::NotRegistered(_))));
        assert!(
            hosts.agent("host_a").await.is_err(),
            "not served from cache"
        );
    }

    #[tokio::test]
    async fn agent_when_pinned_then_served_without_record() {
        let (hosts, _records) = hosts();
        hosts.pin(host_a(), Arc::new(Dialled("pinned".into())));
        hosts
            .refresh(&host_a())
            .await
            .expect("a pin outlives a missing record");
        let agent = hosts.agent("host_a").await.expect("pinned");
        assert_eq!(agent.envd("x").base_url, "pinned");
        assert_eq!(hosts.all().await.expect("all").len(), 1);
    }

    #[tokio::test]
    async fn agent_when_id_malformed_then_not_registered() {
        let (hosts, _records) = hosts();
        let answer = hosts.agent("local").await;
        assert!(matches!(answer, Err(HostUnavailable::NotRegistered(_))));
    }
}
