//! Kept-alive HTTP/1.1 connections to envd, one pool per sandbox VM. A pool
//! belongs to one VM generation: when the sandbox's VM changes (pause and
//! resume, recovery) or the sandbox stops, its pool and idle connections
//! are dropped, so a request never rides a connection to a VM that is gone
//! (its address may by then belong to another sandbox's VM).
use std::{collections::HashMap, sync::Mutex, time::Duration};

use axum::body::Body;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};

use super::EnvdDirectory;
use crate::sandbox::{EnvdTarget, SandboxId};

/// A client for one VM of one sandbox; clones share connections.
pub type EnvdClient = Client<HttpConnector, Body>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections older than this are closed (envd keeps them longer).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_IDLE_PER_SANDBOX: usize = 32;

struct Pool {
    generation: u64,
    client: EnvdClient,
}

/// The pools of every sandbox the proxy has talked to.
#[derive(Default)]
pub struct EnvdPools {
    pools: Mutex<HashMap<SandboxId, Pool>>,
}

impl std::fmt::Debug for EnvdPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvdPools")
            .field("sandboxes", &self.len())
            .finish()
    }
}

impl EnvdPools {
    /// The client for `target`'s VM of sandbox `id`. A first request to a
    /// new VM also drops the pools of sandboxes that no longer run the VM
    /// they were made for.
    pub fn client(
        &self,
        id: &SandboxId,
        target: &EnvdTarget,
        directory: &dyn EnvdDirectory,
    ) -> EnvdClient {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(id).filter(|p| p.generation == target.generation) {
            return pool.client.clone();
        }
        pools.retain(|other, pool| {
            other != id
                && directory
                    .envd_target(other)
                    .is_ok_and(|t| t.generation == pool.generation)
        });
        let client = new_client();
        pools.insert(
            id.clone(),
            Pool {
                generation: target.generation,
                client: client.clone(),
            },
        );
        client
    }

    /// Drops the pool of a sandbox that is not running.
    pub fn forget(&self, id: &SandboxId) {
        self.pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// How many sandboxes have a pool.
    pub fn len(&self) -> usize {
        self.pools.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn new_client() -> EnvdClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_PER_SANDBOX)
        .build(connector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{AccessToken, SandboxError};

    struct Fixed(u64);

    impl EnvdDirectory for Fixed {
        fn envd_target(&self, _id: &SandboxId) -> Result<EnvdTarget, SandboxError> {
            Ok(target(self.0))
        }
    }

    fn target(generation: u64) -> EnvdTarget {
        EnvdTarget {
            url: "http://127.0.0.1:1".into(),
            token: AccessToken::generate(),
            generation,
        }
    }

    #[tokio::test]
    async fn client_when_generation_changes_then_pool_replaced() {
        let pools = EnvdPools::default();
        let id: SandboxId = "sb-1".parse().expect("id");
        let directory = Fixed(2);

        pools.client(&id, &target(1), &directory);
        pools.client(&id, &target(2), &directory);

        let kept = pools.pools.lock().expect("lock");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[&id].generation, 2);
    }

    #[tokio::test]
    async fn client_when_other_sandbox_changed_vm_then_its_pool_dropped() {
        let pools = EnvdPools::default();
        let (a, b): (SandboxId, SandboxId) = ("a".parse().expect("id"), "b".parse().expect("id"));
        pools.client(&a, &target(1), &Fixed(1));

        // `a` now runs generation 5: its pool of generation 1 is stale.
        pools.client(&b, &target(5), &Fixed(5));

        let kept = pools.pools.lock().expect("lock");
        assert!(!kept.contains_key(&a));
        assert!(kept.contains_key(&b));
    }

    #[tokio::test]
    async fn forget_when_sandbox_stopped_then_no_pool() {
        let pools = EnvdPools::default();
        let id: SandboxId = "sb-1".parse().expect("id");
        pools.client(&id, &target(1), &Fixed(1));

        pools.forget(&id);

        assert!(pools.is_empty());
    }
}
