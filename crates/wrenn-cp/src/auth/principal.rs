//! The authenticated caller of a request and the team it acts on. Every
//! handler that touches team resources takes a [`Principal`] (extracted in
//! `api::authenticate`) and scopes its queries by `principal.team_id`.

pub use crate::role::Role;

/// What a caller lacks for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this needs a user login, not an API key")]
    NeedsUser,
    #[error("only team owners may do this")]
    NeedsOwner,
}

/// Who made the request, for authorization and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User { user_id: String, is_admin: bool },
    ApiKey { key_id: String },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub team_id: String,
    /// The caller's role in `team_id` (API keys act as members).
    pub role: Role,
}

impl Principal {
    /// `("user", id)` or `("api_key", id)` for the audit log.
    pub fn audit_actor(&self) -> (&'static str, &str) {
        match &self.actor {
            Actor::User { user_id, .. } => ("user", user_id),
            Actor::ApiKey { key_id } => ("api_key", key_id),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::User { user_id, .. } => Some(user_id),
            Actor::ApiKey { .. } => None,
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        matches!(self.actor, Actor::User { is_admin: true, .. })
    }

    pub fn require_owner(&self) -> Result<(), Refused> {
        if self.role == Role::Owner {
            Ok(())
        } else {
            Err(Refused::NeedsOwner)
        }
    }

    pub fn require_user(&self) -> Result<&str, Refused> {
        self.user_id().ok_or(Refused::NeedsUser)
    }
}
