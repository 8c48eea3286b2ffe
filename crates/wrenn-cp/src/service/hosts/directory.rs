//! The host records as [`Hosts`](crate::agent::Hosts) reads them: where a
//! registered host listens, its pinned certificate and the per-host secret
//! the control plane presents to it (derived from the JWT key, so every
//! replica computes the same one).
use wrenn_types::HostId;

use crate::{
    agent::{DirectoryError, HostDirectory, HostTarget},
    db::{self, hosts::HostRow, Db},
    secret::SecretString,
};

/// [`HostDirectory`] over the database.
#[derive(Debug, Clone)]
pub struct DbDirectory {
    db: Db,
    signing_key: SecretString,
}

impl DbDirectory {
    /// `signing_key`: `CP_JWT_SECRET`, from which agent secrets are derived.
    pub fn new(db: Db, signing_key: SecretString) -> Self {
        Self { db, signing_key }
    }

    fn target(&self, row: HostRow) -> Option<HostTarget> {
        if !row.is_registered() || row.address.is_empty() {
            return None;
        }
        let host_id = HostId::try_from(row.id).ok()?;
        Some(HostTarget {
            secret: SecretString::new(crate::auth::host::agent_secret(
                self.signing_key.expose().as_bytes(),
                host_id.as_str(),
            )),
            host_id,
            address: row.address,
            tls_fingerprint: row.tls_fingerprint,
        })
    }
}

fn directory_error(err: sqlx::Error) -> DirectoryError {
    DirectoryError(Box::new(err))
}

#[async_trait::async_trait]
impl HostDirectory for DbDirectory {
    async fn target(&self, host_id: &HostId) -> Result<Option<HostTarget>, DirectoryError> {
        let row = db::hosts::get(&self.db, host_id.as_str())
            .await
            .map_err(directory_error)?;
        Ok(row.and_then(|row| self.target(row)))
    }

    async fn registered(&self) -> Result<Vec<HostTarget>, DirectoryError> {
        let rows = db::hosts::registered(&self.db)
            .await
            .map_err(directory_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| self.target(row))
            .collect())
    }
}
