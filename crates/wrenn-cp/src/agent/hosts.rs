//! [`Hosts`]: the control plane's connections to host agents, a cache in
//! front of the host records. The database owns which hosts exist and how
//! to reach them ([`HostDirectory`]); a replica that has never seen a host
//! dials it on first use, so any replica behind the same database reaches
//! any registered host. Entries are refreshed on heartbeats and dropped
//! when a host is deleted. Development and tests may pin an agent that has
//! no registration (`CP_AGENT_URL`, fakes).
//!
//! A registered host is only handed out once whatever answers at its
//! address has proved it holds that host's agent secret (an HMAC over a
//! fresh challenge, [`wrenn_types::host_wire::identity_proof`]); until then
//! the only thing sent to the address is the challenge. The proof is kept
//! per dialled target: a new address or certificate is proved anew.
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
    /// What answers at the host's address did not prove it is that host's
    /// agent.
    #[error("host {host_id} did not prove it is the registered agent: {reason}")]
    Unverified { host_id: HostId, reason: String },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Length of an identity challenge (36 symbols a-z0-9: 186 bits).
const CHALLENGE_LEN: usize = 36;

#[derive(Debug, Clone)]
struct Entry {
    /// What the client was made from; `None` for a pinned agent.
    target: Option<HostTarget>,
    agent: Arc<dyn AgentApi>,
    /// Set once the agent at `target` proved its identity.
    verified: Arc<tokio::sync::OnceCell<()>>,
}

impl Entry {
    fn new(target: Option<HostTarget>, agent: Arc<dyn AgentApi>) -> Self {
        Self {
            target,
            agent,
            verified: Arc::default(),
        }
    }

    /// The agent, once it proved it holds its host's secret (pinned agents
    /// are trusted as configured).
    async fn verified_agent(&self) -> Result<Arc<dyn AgentApi>, HostUnavailable> {
        let Some(target) = &self.target else {
            return Ok(self.agent.clone());
        };
        self.verified
            .get_or_try_init(|| async {
                let unverified = |reason: String| HostUnavailable::Unverified {
                    host_id: target.host_id.clone(),
                    reason,
                };
                let challenge = wrenn_types::random_lowercase(CHALLENGE_LEN);
                let proof = self.agent.prove_identity(&challenge).await.map_err(|err| {
                    // The answer may be anything the address serves: logged,
                    // not carried in the error.
                    tracing::warn!(host_id = %target.host_id, error = %err, "identity challenge failed");
                    unverified("no valid answer to the identity challenge".into())
                })?;
                let expected =
                    wrenn_types::host_wire::identity_proof(target.secret.expose(), &challenge);
                // The challenge is fresh each time, so comparison timing
                // tells an impostor nothing it could reuse.
                if proof == expected {
                    tracing::info!(host_id = %target.host_id, "host agent proved its identity");
                    Ok(())
                } else {
                    Err(unverified("wrong proof".into()))
                }
            })
            .await?;
        Ok(self.agent.clone())
    }
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
        self.write().insert(host_id, Entry::new(None, agent));
    }

    /// The agent of `host_id`, from the cache or dialled from its record,
    /// once it proved its identity.
    pub async fn agent<H: AsRef<str> + ?Sized>(
        &self,
        host_id: &H,
    ) -> Result<Arc<dyn AgentApi>, HostUnavailable> {
        let raw = host_id.as_ref();
        let id = HostId::try_from(raw).map_err(|_| HostUnavailable::NotRegistered(raw.into()))?;
        let cached = self.read().get(&id).cloned();
        let entry = match cached {
            Some(entry) => entry,
            None => {
                self.refresh(&id).await?;
                self.read()
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| HostUnavailable::NotRegistered(id.to_string()))?
            }
        };
        entry.verified_agent().await
    }

    /// Re-reads `host_id`'s record (a heartbeat, a registration): dials it
    /// anew when its address or certificate changed, forgets it when it no
    /// longer has a registration.
    pub async fn refresh(&self, host_id: &HostId) -> Result<Arc<dyn AgentApi>, HostUnavailable> {
        match self.directory.target(host_id).await? {
            Some(target) => self.connect(target).map(|entry| entry.agent),
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

    /// How the control plane reaches `host_id` (address, secret, pin);
    /// `None` for unregistered and pinned hosts. Signs the grants one agent
    /// presents to another (template copies).
    pub async fn target(&self, host_id: &HostId) -> Result<Option<HostTarget>, DirectoryError> {
        self.directory.target(host_id).await
    }

    /// Forgets `host_id` (deleted); a pinned agent stays.
    pub fn forget(&self, host_id: &HostId) {
        let mut cache = self.write();
        if cache.get(host_id).is_some_and(|e| e.target.is_some()) {
            cache.remove(host_id);
        }
    }

    /// Every registered host and every pinned one (the reconciler, template
    /// deletion). Hosts that cannot be dialled or did not prove their
    /// identity are left out and logged.
    pub async fn all(&self) -> Result<Vec<(HostId, Arc<dyn AgentApi>)>, DirectoryError> {
        let registered = self.directory.registered().await?;
        // Hosts deleted through another replica leave this cache here.
        self.write().retain(|id, entry| {
            entry.target.is_none() || registered.iter().any(|t| t.host_id == *id)
        });
        let mut all = Vec::with_capacity(registered.len());
        for target in registered {
            let host_id = target.host_id.clone();
            let verified = match self.connect(target) {
                Ok(entry) => entry.verified_agent().await,
                Err(err) => Err(err),
            };
            match verified {
                Ok(agent) => all.push((host_id, agent)),
                Err(err) => tracing::warn!(%host_id, error = %err, "cannot use a registered host"),
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

    /// The cached entry for `target`, or a new one when it changed.
    fn connect(&self, target: HostTarget) -> Result<Entry, HostUnavailable> {
        if let Some(entry) = self.read().get(&target.host_id) {
            if entry.target.as_ref() == Some(&target) {
                return Ok(entry.clone());
            }
        }
        let agent = self
            .connector
            .connect(&target)
            .map_err(|source| HostUnavailable::Dial {
                host_id: target.host_id.clone(),
                source,
            })?;
        let host_id = target.host_id.clone();
        let entry = Entry::new(Some(target), agent);
        self.write().insert(host_id, entry.clone());
        Ok(entry)
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

    /// An agent that only says where it was dialled (`envd().base_url`) and
    /// answers identity challenges with the secret it holds (`None`: an
    /// impostor that knows no secret), counting them.
    #[derive(Debug)]
    struct Dialled(String, Option<String>, Arc<Mutex<usize>>);

    impl Dialled {
        fn pinned(address: &str) -> Self {
            Self(address.into(), None, Arc::default())
        }
    }

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
        async fn envd_access_token(
            &self,
            _: &str,
        ) -> AgentResult<Option<crate::secret::SecretString>> {
            refused()
        }
        async fn snapshot(
            &self,
            _: &str,
            _: &str,
            _: bool,
            _: Option<&super::super::AgentStart>,
        ) -> AgentResult<AgentTemplate> {
            refused()
        }
        async fn delete_template(&self, _: &str) -> AgentResult<()> {
            refused()
        }
        async fn prove_identity(&self, challenge: &str) -> AgentResult<String> {
            *self.2.lock().unwrap() += 1;
            Ok(match &self.1 {
                Some(secret) => wrenn_types::host_wire::identity_proof(secret, challenge),
                None => "0".repeat(64),
            })
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

    /// Dials [`Dialled`] agents; addresses starting `impostor` hold no secret.
    #[derive(Debug, Default)]
    struct Dial {
        challenges: Arc<Mutex<usize>>,
    }

    impl Connector for Dial {
        fn connect(&self, target: &HostTarget) -> anyhow::Result<Arc<dyn AgentApi>> {
            let secret = (!target.address.starts_with("impostor"))
                .then(|| target.secret.expose().to_owned());
            Ok(Arc::new(Dialled(
                target.address.clone(),
                secret,
                self.challenges.clone(),
            )))
        }
    }

    fn hosts() -> (Hosts, Arc<Records>) {
        let (hosts, records, _) = hosts_counting_challenges();
        (hosts, records)
    }

    fn hosts_counting_challenges() -> (Hosts, Arc<Records>, Arc<Mutex<usize>>) {
        let records = Arc::new(Records::default());
        let dial = Dial::default();
        let challenges = dial.challenges.clone();
        (
            Hosts::new(Arc::new(dial), Arc::new(records.clone())),
            records,
            challenges,
        )
    }

    #[tokio::test]
    async fn agent_when_address_holds_no_secret_then_unverified_every_time() {
        let (hosts, records) = hosts();
        records.set(&host_a(), "impostor:80");

        for _ in 0..2 {
            let answer = hosts.agent("host_a").await;
            assert!(matches!(answer, Err(HostUnavailable::Unverified { .. })));
        }
        assert!(hosts.all().await.expect("all").is_empty());
    }

    #[tokio::test]
    async fn agent_when_proof_right_then_challenged_once_per_target() {
        let (hosts, records, challenges) = hosts_counting_challenges();
        records.set(&host_a(), "10.0.0.1:1");

        hosts.agent("host_a").await.expect("verified");
        hosts.agent("host_a").await.expect("cached");
        assert_eq!(*challenges.lock().unwrap(), 1);

        records.set(&host_a(), "10.0.0.2:1");
        hosts.refresh(&host_a()).await.expect("dialled");
        hosts.agent("host_a").await.expect("verified again");
        assert_eq!(
            *challenges.lock().unwrap(),
            2,
            "a new address is proved anew"
        );
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
        hosts.pin(host_a(), Arc::new(Dialled::pinned("pinned")));
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
