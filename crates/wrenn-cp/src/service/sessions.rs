//! Browser sessions: opened after a successful login (`service::accounts`),
//! resolved from the cookie's token on every request (revoked, idle for
//! `CP_SESSION_IDLE_SECS` or older than `CP_SESSION_MAX_SECS`: refused),
//! slid forward at most once a minute, revoked on logout. Opening and
//! revoking are audited as `session.create` and `session.revoke`; the token
//! itself is never logged.
use crate::{
    audit,
    auth::session,
    config::SessionConfig,
    db::{self, audit::NewAuditEvent, sessions::SessionRow},
};

/// How often `last_seen_at` is written at most: a write per request would
/// serialise every dashboard call on SQLite.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A session just opened: the cookie's token (shown once) and its record.
#[derive(Debug)]
pub struct Opened {
    pub token: String,
    pub session: SessionRow,
}

/// Where a login came from, recorded with the session.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub user_agent: &'a str,
    pub ip: &'a str,
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// When `session` expires unless used again: the idle end or the absolute
/// end, whichever comes first (Unix ms).
pub fn expires_at(config: &SessionConfig, session: &SessionRow) -> i64 {
    session
        .last_seen_at
        .saturating_add(millis(config.idle))
        .min(session.expires_at)
}

fn event<'a>(
    team_id: Option<&'a str>,
    session: &'a SessionRow,
    action: &'a str,
) -> NewAuditEvent<'a> {
    NewAuditEvent {
        team_id,
        actor_type: "user",
        actor_id: &session.user_id,
        action,
        resource_type: "session",
        resource_id: &session.id,
        outcome: audit::Outcome::Ok.as_str(),
        detail: "",
    }
}

/// Opens a session for `user_id`, whose personal team is `team_id` (the
/// audit entry's team).
pub async fn open(
    db: &db::Db,
    config: &SessionConfig,
    user_id: &str,
    team_id: &str,
    client: Client<'_>,
) -> Result<Opened, sqlx::Error> {
    let (token, csrf_token) = session::mint();
    let now = db::now_ms();
    let token_hash = session::token_hash(&token);
    let record = db::sessions::NewSession {
        token_hash: &token_hash,
        user_id,
        csrf_token: &csrf_token,
        now,
        expires_at: now.saturating_add(millis(config.max)),
        user_agent: truncate(client.user_agent, 512),
        client_ip: client.ip,
    };
    let session = db::sessions::insert(db, &record).await?;
    audit::write(db, event(Some(team_id), &session, "session.create")).await;
    tracing::info!(user_id, session_id = %session.id, "browser session opened");
    Ok(Opened { token, session })
}

/// The live session whose cookie token is `token`, slid forward; `None`
/// when it is unknown, revoked or expired.
pub async fn resolve(
    db: &db::Db,
    config: &SessionConfig,
    token: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let Some(mut session) = db::sessions::by_token_hash(db, &session::token_hash(token)).await?
    else {
        return Ok(None);
    };
    let now = db::now_ms();
    if session.revoked_at.is_some() || expires_at(config, &session) <= now {
        return Ok(None);
    }
    if now - session.last_seen_at > TOUCH_EVERY_MS {
        db::sessions::touch(db, &session.id, now).await?;
        session.last_seen_at = now;
    }
    Ok(Some(session))
}

/// Revokes `session` (logout); `team_id` is the team the request acted on.
pub async fn revoke(db: &db::Db, session: &SessionRow, team_id: &str) -> Result<(), sqlx::Error> {
    db::sessions::revoke(db, &session.id, db::now_ms()).await?;
    audit::write(db, event(Some(team_id), session, "session.revoke")).await;
    tracing::info!(user_id = %session.user_id, session_id = %session.id, "browser session revoked");
    Ok(())
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn row(last_seen_at: i64, expires_at: i64) -> SessionRow {
        SessionRow {
            id: "ses_1".into(),
            user_id: "usr_1".into(),
            csrf_token: "c".into(),
            created_at: 0,
            last_seen_at,
            expires_at,
            revoked_at: None,
        }
    }

    #[test]
    fn expires_at_when_idle_end_first_then_idle_end() {
        let config = SessionConfig {
            idle: Duration::from_secs(10),
            max: Duration::from_secs(100),
        };
        assert_eq!(expires_at(&config, &row(1_000, 100_000)), 11_000);
        assert_eq!(expires_at(&config, &row(95_000, 100_000)), 100_000);
    }

    #[test]
    fn truncate_when_multibyte_then_on_a_char_boundary() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
