//! Accounts: signup (a user, their personal team and owner membership;
//! the deployment's first user becomes its platform admin), login by email
//! and password (argon2 off the async workers; an unknown email costs the
//! same time as a wrong password; runs of wrong passwords lock the account
//! from that client, then from everywhere, for a growing time:
//! `auth::lockout`) and who a credential is. Signups and logins, refused
//! ones included, are audited.
use std::time::Duration;

use crate::{
    audit::{self, Outcome},
    auth::{
        lockout::{self, Policy},
        password, Actor, Principal, Role,
    },
    db::{self, audit::NewAuditEvent, teams::TeamRow, users::UserRow},
};

/// Why a signup failed.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error("the hashing task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot create the account")]
    Database(#[source] sqlx::Error),
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// No account has this email (answered like a wrong password).
    #[error("wrong email or password")]
    UnknownEmail,
    #[error("wrong email or password")]
    WrongPassword,
    #[error("the user has no team")]
    NoTeam,
    /// Too many wrong passwords: the account is locked for this client (or
    /// for everyone) for `retry_after`; the password was not checked.
    #[error("too many failed logins; try again in {} s", lockout::retry_after_secs(*retry_after))]
    LockedOut { retry_after: Duration },
    #[error("the verifying task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot read the account")]
    Database(#[from] sqlx::Error),
}

/// Why `me` could not say who the caller is.
#[derive(Debug, thiserror::Error)]
pub enum WhoAmIError {
    #[error("the token's user no longer exists")]
    UserGone,
    #[error("team not found")]
    TeamNotFound,
    #[error("cannot read the account")]
    Database(#[from] sqlx::Error),
}

/// What signup needs, already validated (`api::input`).
#[derive(Debug)]
pub struct NewSignup<'a> {
    /// Normalised.
    pub email: &'a str,
    /// Empty when none was given.
    pub name: &'a str,
    pub password: String,
}

/// A new account: its user and personal team.
#[derive(Debug)]
pub struct SignedUp {
    pub user: UserRow,
    pub team_id: String,
    pub team_name: String,
}

/// A successful login: the user and their personal team.
#[derive(Debug)]
pub struct LoggedIn {
    pub user: UserRow,
    pub team: TeamRow,
}

/// Who a credential is.
#[derive(Debug)]
pub enum WhoAmI {
    /// A user: the team the request acts on among all of theirs.
    User {
        user: UserRow,
        team: TeamRow,
        teams: Vec<TeamRow>,
    },
    /// An API key: its one team.
    ApiKey {
        team_id: String,
        name: String,
        personal: bool,
        role: Role,
    },
}

fn user_event<'a>(
    team_id: Option<&'a str>,
    user_id: &'a str,
    action: &'a str,
    outcome: Outcome,
) -> NewAuditEvent<'a> {
    NewAuditEvent {
        team_id,
        actor_type: "user",
        actor_id: user_id,
        action,
        resource_type: "user",
        resource_id: user_id,
        outcome: outcome.as_str(),
        detail: "",
    }
}

/// Creates the account and its personal team ("<name or email>'s team");
/// audited as `user.signup`.
pub async fn signup(db: &db::Db, signup: NewSignup<'_>) -> Result<SignedUp, SignupError> {
    let owner = if signup.name.is_empty() {
        signup.email
    } else {
        signup.name
    };
    let team_name = format!("{owner}'s team");
    let password = signup.password;
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let password_hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
    let account = db::accounts::create(
        db,
        &db::accounts::NewAccount {
            email: signup.email,
            name: signup.name,
            password_hash: &password_hash,
            team_name: &team_name,
        },
    )
    .await
    .map_err(|err| match err {
        db::accounts::CreateAccountError::EmailTaken => SignupError::EmailTaken,
        db::accounts::CreateAccountError::Db(err) => SignupError::Database(err),
    })?;
    let user_id = account.user.id.as_str();
    let event = user_event(Some(&account.team_id), user_id, "user.signup", Outcome::Ok);
    audit::write(db, event).await;
    tracing::info!(user_id, is_admin = account.user.is_admin, "user signed up");
    Ok(SignedUp {
        user: account.user,
        team_id: account.team_id,
        team_name,
    })
}

/// A login attempt: who it claims to be and where it comes from.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    pub email: &'a str,
    pub password: String,
    /// The client's address (the lockout's `Client` scope).
    pub client: &'a str,
}

/// Checks the password of the account with `attempt.email` (trimmed,
/// lowercased here) unless a run of wrong passwords locked it; audited as
/// `user.login`, refusals as `denied`. Unknown emails are counted and
/// locked like known ones, so a lockout tells nothing about accounts.
pub async fn login(
    db: &db::Db,
    policy: &Policy,
    attempt: LoginAttempt<'_>,
) -> Result<LoggedIn, LoginError> {
    let email = attempt.email.trim().to_lowercase();
    let password = attempt.password;
    let subjects = lockout::subjects(attempt.client, &email);
    let keys: Vec<(&str, &str)> = subjects
        .iter()
        .map(|(scope, subject)| (scope.as_str(), subject.as_str()))
        .collect();
    let now = db::now_ms();
    let locked_until = db::accounts::locked_until(db, &keys).await?;
    if locked_until > now {
        let retry_after = Duration::from_millis(u64::try_from(locked_until - now).unwrap_or(0));
        audit::write(
            db,
            NewAuditEvent {
                team_id: None,
                actor_type: "anonymous",
                actor_id: "",
                action: "user.login",
                resource_type: "user",
                resource_id: "",
                outcome: "denied",
                detail: "locked out after repeated failures",
            },
        )
        .await;
        return Err(LoginError::LockedOut { retry_after });
    }
    let Some(user) = db::users::by_email(db, &email).await? else {
        verify_blocking(password, None).await?;
        count_failure(db, policy, &subjects).await?;
        audit::write(
            db,
            NewAuditEvent {
                team_id: None,
                actor_type: "anonymous",
                actor_id: "",
                action: "user.login",
                resource_type: "user",
                resource_id: "",
                outcome: "denied",
                detail: "unknown email",
            },
        )
        .await;
        return Err(LoginError::UnknownEmail);
    };
    let team = db::teams::list_for_user(db, &user.id)
        .await?
        .into_iter()
        .find(|t| t.personal);
    let team_id = team.as_ref().map(|t| t.id.as_str());
    if !verify_blocking(password, Some(user.password_hash.clone())).await? {
        count_failure(db, policy, &subjects).await?;
        let event = user_event(team_id, &user.id, "user.login", Outcome::Denied);
        audit::write(
            db,
            NewAuditEvent {
                detail: "wrong password",
                ..event
            },
        )
        .await;
        return Err(LoginError::WrongPassword);
    }
    for (scope, subject) in &subjects {
        db::accounts::clear_login_failures(db, scope.as_str(), subject).await?;
    }
    let team = team.ok_or(LoginError::NoTeam)?;
    audit::write(
        db,
        user_event(Some(&team.id), &user.id, "user.login", Outcome::Ok),
    )
    .await;
    Ok(LoggedIn { user, team })
}

/// Counts a wrong password on each counter and locks those whose run is
/// long enough.
async fn count_failure(
    db: &db::Db,
    policy: &Policy,
    subjects: &[(lockout::Scope, String); 2],
) -> Result<(), sqlx::Error> {
    let now = db::now_ms();
    for (scope, subject) in subjects {
        let failures = db::accounts::record_login_failure(db, scope.as_str(), subject, now).await?;
        let failures = u32::try_from(failures).unwrap_or(u32::MAX);
        if let Some(lock) = policy.lock_for(*scope, failures) {
            let until = now.saturating_add(i64::try_from(lock.as_millis()).unwrap_or(i64::MAX));
            db::accounts::lock_login(db, scope.as_str(), subject, until).await?;
        }
    }
    Ok(())
}

/// Verifies against `stored`, or against a dummy hash when there is no
/// account, so both refusals take the same time.
async fn verify_blocking(
    password: String,
    stored: Option<String>,
) -> Result<bool, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::dummy_verify(&password);
            false
        }
    })
    .await
}

/// The caller and the team the request acts on.
pub async fn who_am_i(db: &db::Db, principal: &Principal) -> Result<WhoAmI, WhoAmIError> {
    match &principal.actor {
        Actor::User { user_id, .. } => {
            let user = db::users::get(db, user_id)
                .await?
                .ok_or(WhoAmIError::UserGone)?;
            let teams = db::teams::list_for_user(db, user_id).await?;
            let team = teams
                .iter()
                .find(|t| t.id == principal.team_id)
                .cloned()
                .ok_or(WhoAmIError::TeamNotFound)?;
            Ok(WhoAmI::User { user, team, teams })
        }
        Actor::ApiKey { .. } => {
            let (name, personal) = db::teams::name(db, &principal.team_id)
                .await?
                .ok_or(WhoAmIError::TeamNotFound)?;
            Ok(WhoAmI::ApiKey {
                team_id: principal.team_id.clone(),
                name,
                personal,
                role: principal.role,
            })
        }
    }
}
