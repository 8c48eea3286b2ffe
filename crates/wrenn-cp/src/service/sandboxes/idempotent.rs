//! Creates made at most once per idempotency key (the E2B API's
//! `Idempotency-Key`): the first create of a team's key claims it in the
//! database (so that replicas agree), and every later create with that key
//! answers the first one's sandbox instead of making another: at once when
//! it is made, after waiting for it while it is being made. A create that
//! fails gives its claim up, so a retry tries again.
use std::time::Duration;

use super::{create, CreateSandboxError, NewSandbox};
use crate::{
    auth::Principal,
    db::{self, idempotency::Claim, sandboxes::SandboxRow},
    secret::random_token,
    state::AppState,
};

/// A validated key: 1-255 characters `[a-z0-9-]` (what the e2b SDK sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1-255 characters a-z, 0-9 and '-'")]
pub struct BadIdempotencyKey;

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, BadIdempotencyKey> {
        let ok = (1..=255).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(text.to_owned())).ok_or(BadIdempotencyKey)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fingerprint of a create request's canonical bytes, stored with its
/// key so that the key reused for another request is refused.
pub fn request_fingerprint(canonical: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why an idempotent create answered no sandbox.
#[derive(Debug, thiserror::Error)]
pub enum IdempotentCreateError {
    #[error(transparent)]
    Create(#[from] CreateSandboxError),
    /// The key was first used for another request body.
    #[error("this Idempotency-Key was already used for a different create request")]
    KeyReused,
    /// The first create with the key is still running after the wait.
    #[error("the create that holds this Idempotency-Key is still running; retry later")]
    StillCreating,
    #[error("database")]
    Db(#[from] sqlx::Error),
    #[error("the create task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// How long a key answers the same sandbox.
const RETENTION_MS: i64 = 24 * 3600 * 1000;
/// A claim without a sandbox for longer than any create takes: its replica
/// died mid-create, and the key may be claimed anew.
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;
/// How long a second create waits for the first one.
const WAIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(100);

/// Creates a sandbox for `request` unless the team's `key` already made
/// (or is making) one, which is then answered. `request_hash` fingerprints
/// the request so that a key reused for another one is refused.
pub async fn create_once(
    state: &AppState,
    principal: &Principal,
    key: &IdempotencyKey,
    request_hash: &str,
    request: NewSandbox,
) -> Result<SandboxRow, IdempotentCreateError> {
    let team_id = principal.team_id.as_str();
    let give_up = tokio::time::Instant::now() + WAIT;
    loop {
        let now = db::now_ms();
        let claim_id = random_token(24);
        if db::idempotency::claim(
            &state.db,
            team_id,
            key.as_str(),
            &claim_id,
            request_hash,
            now,
        )
        .await?
        {
            return create_claimed(state, principal, key, claim_id, request).await;
        }
        let Some(claim) = db::idempotency::find(&state.db, team_id, key.as_str()).await? else {
            // Given up between our insert and our read: claim it again.
            continue;
        };
        if expired(&claim, now) {
            db::idempotency::release(&state.db, team_id, key.as_str(), &claim.claim_id).await?;
            continue;
        }
        if claim.request_hash != request_hash {
            return Err(IdempotentCreateError::KeyReused);
        }
        if let Some(sandbox_id) = &claim.sandbox_id {
            match db::sandboxes::get(&state.db, team_id, sandbox_id).await? {
                Some(row) => return Ok(row),
                // Its record was purged: the key starts afresh.
                None => {
                    db::idempotency::release(&state.db, team_id, key.as_str(), &claim.claim_id)
                        .await?;
                    continue;
                }
            }
        }
        if tokio::time::Instant::now() >= give_up {
            return Err(IdempotentCreateError::StillCreating);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn expired(claim: &Claim, now: i64) -> bool {
    let age = now - claim.claimed_at;
    age > RETENTION_MS || (claim.sandbox_id.is_none() && age > STALE_CLAIM_MS)
}

/// The create of the claim holder, in its own task so that a client going
/// away cannot leave the claim unanswered.
async fn create_claimed(
    state: &AppState,
    principal: &Principal,
    key: &IdempotencyKey,
    claim_id: String,
    request: NewSandbox,
) -> Result<SandboxRow, IdempotentCreateError> {
    let (state, principal, key) = (state.clone(), principal.clone(), key.clone());
    let task = tokio::spawn(async move {
        let team_id = principal.team_id.as_str();
        match create(&state, &principal, request).await {
            Ok(row) => {
                db::idempotency::fulfil(&state.db, team_id, key.as_str(), &claim_id, &row.id)
                    .await?;
                Ok(row)
            }
            Err(err) => {
                db::idempotency::release(&state.db, team_id, key.as_str(), &claim_id).await?;
                Err(err.into())
            }
        }
    });
    task.await.map_err(IdempotentCreateError::Task)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_sdk_shape_then_ok_else_refused() {
        assert!(IdempotencyKey::parse("retry-1a2b").is_ok());
        assert!(IdempotencyKey::parse(&"a".repeat(255)).is_ok());
        for bad in ["", "Upper", "under_score", "sp ace", "é"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(IdempotencyKey::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn expired_when_old_or_stale_then_true() {
        let claim = |age: i64, sandbox: Option<&str>| Claim {
            claim_id: "c".into(),
            request_hash: "h".into(),
            sandbox_id: sandbox.map(str::to_owned),
            claimed_at: 1_000_000_000 - age,
        };
        let now = 1_000_000_000;
        assert!(!expired(&claim(1000, None), now));
        assert!(expired(&claim(STALE_CLAIM_MS + 1, None), now));
        assert!(!expired(&claim(STALE_CLAIM_MS + 1, Some("s")), now));
        assert!(expired(&claim(RETENTION_MS + 1, Some("s")), now));
    }
}
