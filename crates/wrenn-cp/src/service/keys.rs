//! A team's API keys: creation (the plaintext exists only in the answer;
//! only its SHA-256 is stored), listing and revocation, each audited.
use wrenn_types::{ErrorCode, KeyId};

use crate::{
    audit::{self, Outcome},
    auth::{
        api_key::{self, KeyForm, KeyOwner},
        Principal, Role,
    },
    db::{self, keys::KeyRow},
};

/// Longest key lifetime: ten years.
pub const MAX_EXPIRES_IN_SECS: u64 = 10 * 365 * 24 * 3600;

/// Why a key was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    #[error("expires_in_secs must be between 1 and {MAX_EXPIRES_IN_SECS}")]
    InvalidLifetime,
    /// `owner: team` asked by a member who is not an owner of the team.
    #[error("only team owners may create team-owned keys")]
    TeamKeyNeedsOwner,
    #[error("cannot store the key")]
    Database(#[from] sqlx::Error),
}

impl CreateKeyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidLifetime => ErrorCode::ValidationFailed,
            Self::TeamKeyNeedsOwner => ErrorCode::Forbidden,
            Self::Database(_) => ErrorCode::Internal,
        }
    }
}

/// Why a key was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeKeyError {
    /// Not one of the team's keys, or already revoked.
    #[error("API key not found")]
    NotFound,
    #[error("cannot revoke the key")]
    Database(#[from] sqlx::Error),
}

impl RevokeKeyError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::Database(_) => ErrorCode::Internal,
        }
    }
}

/// A stored key and its plaintext, which is shown once.
#[derive(Debug)]
pub struct CreatedKey {
    pub row: KeyRow,
    pub secret: String,
}

/// What a new key is.
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    /// Already validated (`api::input::name`).
    pub name: &'a str,
    /// `None`: the key does not expire.
    pub expires_in_secs: Option<u64>,
    /// The user creating it (keys cannot create keys).
    pub created_by: &'a str,
    /// Whose it is: `Team` keys need a team owner and survive the creator.
    pub owner: KeyOwner,
    /// `wrn_…` or, for the e2b SDKs that check the form, `e2b_…`.
    pub form: KeyForm,
}

/// Creates a key for the team `principal` acts on.
pub async fn create(
    db: &db::Db,
    principal: &Principal,
    key: NewKey<'_>,
) -> Result<CreatedKey, CreateKeyError> {
    let expires_at = match key.expires_in_secs {
        None => None,
        Some(secs @ 1..=MAX_EXPIRES_IN_SECS) => {
            Some(db::now_ms() + i64::try_from(secs * 1000).unwrap_or(i64::MAX / 2))
        }
        Some(_) => return Err(CreateKeyError::InvalidLifetime),
    };
    if key.owner == KeyOwner::Team && principal.role != Role::Owner {
        return Err(CreateKeyError::TeamKeyNeedsOwner);
    }
    let secret = api_key::generate_form(key.form);
    let row = db::keys::insert(
        db,
        &db::keys::NewKeyRecord {
            team_id: &principal.team_id,
            name: key.name,
            prefix: &secret.prefix,
            hash: &secret.hash,
            created_by: Some(key.created_by),
            expires_at,
            owner: key.owner,
        },
    )
    .await?;
    audit::record(
        db,
        principal,
        "api_key.create",
        ("api_key", &row.id),
        Outcome::Ok,
        key.owner.as_str(),
    )
    .await;
    Ok(CreatedKey {
        row,
        secret: secret.secret,
    })
}

/// The team's keys, newest first, revoked ones included.
pub async fn list(db: &db::Db, principal: &Principal) -> Result<Vec<KeyRow>, sqlx::Error> {
    db::keys::list(db, &principal.team_id).await
}

/// Revokes one of the team's keys.
pub async fn revoke(
    db: &db::Db,
    principal: &Principal,
    key_id: &str,
) -> Result<(), RevokeKeyError> {
    // A malformed id names no key of the team.
    let key_id = KeyId::try_from(key_id).map_err(|_| RevokeKeyError::NotFound)?;
    if !db::keys::revoke(db, &principal.team_id, key_id.as_str()).await? {
        return Err(RevokeKeyError::NotFound);
    }
    audit::record(
        db,
        principal,
        "api_key.revoke",
        ("api_key", key_id.as_str()),
        Outcome::Ok,
        "",
    )
    .await;
    Ok(())
}
