//! Team webhooks: the URL and signing secret a team sets, the events its
//! pool raises (a threshold of a dimension crossed upward, a refusal), and
//! their delivery by a background task of every replica (`deliver`).
//! Events are rows in the database first, so a restart loses none and any
//! replica may send them; a claim makes each attempt one replica's.
mod address;
pub mod deliver;
mod seal;

use serde_json::json;

use crate::{
    config::CpConfig,
    db::{self, pools::Amounts, webhooks::WebhookRow, Db},
    secret::random_token,
};

pub use address::{check_url, UrlError};
pub use seal::{Opened, SealKey, Unsealable};

/// Percentages of a pool dimension that raise `pool_threshold` when use
/// reaches them.
pub const LEVELS: [i64; 2] = [80, 100];

/// Why a webhook could not be set.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// Sets the team's webhook; answers it with its new secret (shown once).
pub async fn put_webhook(
    db: &Db,
    config: &CpConfig,
    team_id: &str,
    url: &str,
) -> Result<WebhookRow, WebhookError> {
    check_url(url, config.webhook_allow_private).await?;
    let secret = format!("whsec_{}", random_token(32));
    let sealed = seal_key(config).seal(&secret);
    db::webhooks::put(db, team_id, url, &sealed).await?;
    let row = db::webhooks::get(db, team_id).await?;
    let row = row.ok_or_else(|| WebhookError::Db(sqlx::Error::RowNotFound))?;
    Ok(WebhookRow { secret, ..row })
}

/// The key webhook secrets are sealed under (`seal`).
pub fn seal_key(config: &CpConfig) -> SealKey {
    SealKey::derive(config.jwt_secret.expose().as_bytes())
}

/// The signing secret of a stored webhook, opened; a plaintext one (an
/// older build's row) is written back sealed on the way. `Ok(Err(_))`:
/// it does not open (another `CP_JWT_SECRET`), the team must set it again.
pub async fn signing_secret(
    db: &Db,
    config: &CpConfig,
    row: &WebhookRow,
) -> Result<Result<String, Unsealable>, sqlx::Error> {
    let key = seal_key(config);
    match key.open(&row.secret) {
        Ok(Opened::Sealed(secret)) => Ok(Ok(secret)),
        Ok(Opened::Plaintext(secret)) => {
            db::webhooks::reseal(db, &row.team_id, &row.secret, &key.seal(&secret)).await?;
            Ok(Ok(secret))
        }
        Err(err) => Ok(Err(err)),
    }
}

fn envelope(event: &str, team_id: &str, data: serde_json::Value) -> String {
    json!({
        "type": event,
        "team_id": team_id,
        "created_at": crate::timestamp::rfc3339(db::now_ms()),
        "data": data,
    })
    .to_string()
}

/// Refusals told at most once in this long (a queued create is refused at
/// every turn it takes).
pub const REFUSAL_QUIET_MS: i64 = 10_000;

/// What a `pool_exhausted` event tells (the pool service's refusal, in
/// the terms of the event: notify depends on no service).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refusal<'a> {
    pub plan: &'a str,
    pub dimension: &'a str,
    pub limit: i64,
    pub used: i64,
    pub asked: i64,
    pub message: String,
}

/// Queues a `pool_exhausted` event for a refusal (nothing without a
/// webhook). Failures are logged: a refusal is answered all the same.
pub async fn refused(db: &Db, team_id: &str, refusal: &Refusal<'_>) {
    let data = json!(refusal);
    let body = envelope("pool_exhausted", team_id, data);
    if let Err(err) =
        db::webhooks::enqueue(db, team_id, "pool_exhausted", &body, REFUSAL_QUIET_MS).await
    {
        tracing::warn!(error = %err, team_id, "cannot queue a pool_exhausted webhook");
    }
}

/// After a reservation of `grown` grew the team's use: queues
/// `pool_threshold` for each level of each dimension use is at or above
/// and not yet told (`pool_thresholds` keeps the levels told, with the use
/// each is reached at), and re-arms the levels use is below. Every release
/// re-arms the levels it takes use below in its own transaction
/// (`db::pools::move_in`), so each upward crossing is told exactly once,
/// however reservations and releases interleave. Failures are logged.
pub async fn thresholds(db: &Db, team_id: &str, sizes: &Amounts, grown: &Amounts) {
    if let Err(err) = try_thresholds(db, team_id, sizes, grown).await {
        tracing::warn!(error = %err, team_id, "cannot check pool thresholds");
    }
}

async fn try_thresholds(
    db: &Db,
    team_id: &str,
    sizes: &Amounts,
    grown: &Amounts,
) -> Result<(), sqlx::Error> {
    // Nothing to tell without a webhook: creates of such teams pay one
    // read, not a write per level.
    if db::webhooks::get(db, team_id).await?.is_none() {
        return Ok(());
    }
    let used = db::pools::used(db, team_id).await?;
    let dims = [
        ("vcpus", used.vcpus, grown.vcpus, sizes.vcpus),
        ("memory", used.memory_mb, grown.memory_mb, sizes.memory_mb),
        (
            "storage",
            used.storage_mb,
            grown.storage_mb,
            sizes.storage_mb,
        ),
        (
            "running sandboxes",
            used.running,
            grown.running,
            sizes.running,
        ),
        ("paused sandboxes", used.paused, grown.paused, sizes.paused),
    ];
    // used / size >= level %, in integers.
    let reaches =
        |used: i64, size: i64, level: i64| used.saturating_mul(100) >= level.saturating_mul(size);
    for (dimension, used, grown, size) in dims {
        // Only a dimension that grew can cross a level upward.
        if grown <= 0 || size <= 0 || size >= db::pools::UNLIMITED {
            continue;
        }
        for level in LEVELS {
            if !reaches(used, size, level) {
                db::webhooks::uncross(db, team_id, dimension, level).await?;
                continue;
            }
            // Releases re-arm the levels use falls below (`db::pools`),
            // so a level still recorded was not crossed again.
            let at_use = level.saturating_mul(size).saturating_add(99) / 100;
            if !db::webhooks::cross(db, team_id, dimension, level, at_use).await? {
                continue;
            }
            let data = json!({
                "dimension": dimension,
                "level_percent": level,
                "used": used,
                "size": size,
            });
            let body = envelope("pool_threshold", team_id, data);
            db::webhooks::enqueue(db, team_id, "pool_threshold", &body, 0).await?;
        }
    }
    Ok(())
}
