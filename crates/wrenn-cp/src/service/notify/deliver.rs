//! Delivery of queued webhook events: every replica runs [`spawn`]; each
//! attempt is claimed first (`db::webhooks::claim`), so two replicas never
//! send the same attempt, and a replica that dies mid-attempt leaves a
//! lease that expires and another one tries again. Each request carries
//! `Wrenn-Signature: t=UNIX,v1=HEX`, the HMAC-SHA256 of `"{t}.{body}"`
//! under the team's secret; anything but a 2xx is retried with
//! exponential backoff up to [`MAX_ATTEMPTS`].
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::address::check_url;
use crate::{
    db::{
        self,
        webhooks::{DeliveryRow, Outcome},
    },
    state::AppState,
};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;

/// The wait before the second attempt; each later one waits twice as long.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// How long one attempt may take; its claim lasts a little longer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_secs(30);

/// How often each replica looks for due deliveries.
const POLL: Duration = Duration::from_secs(1);

/// Deliveries claimed per poll.
const BATCH: i64 = 20;

/// Delivers due events until aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = deliver_due(&state).await {
                tracing::warn!(error = %err, "cannot deliver webhooks");
            }
        }
    })
}

/// The signature header's value for `body` sent at `unix_secs`.
pub fn signature(secret: &str, unix_secs: i64, body: &str) -> String {
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{unix_secs}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_secs},v1={hex}")
}

/// One pass: claims and attempts the deliveries due now; answers how many
/// were attempted.
pub async fn deliver_due(state: &AppState) -> Result<usize, sqlx::Error> {
    let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let mut attempted = 0;
    for delivery in db::webhooks::due(&state.db, BATCH).await? {
        if !db::webhooks::claim(&state.db, &delivery.id, db::now_ms() + lease_ms).await? {
            continue;
        }
        let outcome = attempt(state, &delivery).await?;
        db::webhooks::record(&state.db, &delivery.id, &outcome).await?;
        attempted += 1;
    }
    Ok(attempted)
}

async fn attempt(state: &AppState, delivery: &DeliveryRow) -> Result<Outcome, sqlx::Error> {
    let attempts = delivery.attempts + 1;
    let Some(hook) = db::webhooks::get(&state.db, &delivery.team_id).await? else {
        return Ok(Outcome::Failed {
            status: None,
            error: "webhook removed".into(),
        });
    };
    let secret = match super::signing_secret(&state.db, &state.config, &hook).await? {
        Ok(secret) => secret,
        // Retrying cannot help: the team must set the webhook again.
        Err(unsealable) => {
            return Ok(Outcome::Failed {
                status: None,
                error: unsealable.to_string(),
            })
        }
    };
    let sent = send(state, &hook.url, &secret, delivery).await;
    let (status, error) = match sent {
        Ok(status) if (200..300).contains(&status) => {
            return Ok(Outcome::Delivered {
                status: i64::from(status),
            })
        }
        Ok(status) => (Some(i64::from(status)), format!("answered {status}")),
        Err(error) => (None, error),
    };
    if attempts >= MAX_ATTEMPTS {
        return Ok(Outcome::Failed { status, error });
    }
    Ok(Outcome::Retry {
        next_at: db::now_ms() + backoff_ms(attempts),
        status,
        error,
    })
}

/// The wait after attempt number `attempts` (1-based) failed.
pub fn backoff_ms(attempts: i64) -> i64 {
    let first = i64::try_from(FIRST_RETRY.as_millis()).unwrap_or(1000);
    let shift = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    first.saturating_mul(1_i64 << shift)
}

/// POSTs the event to the address checked now; answers the status.
async fn send(
    state: &AppState,
    url: &str,
    secret: &str,
    delivery: &DeliveryRow,
) -> Result<u16, String> {
    let allow = state.config.webhook_allow_private;
    let (host, addr) = check_url(url, allow).await.map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let now = db::now_ms() / 1000;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "wrenn-webhooks/1")
        .header("wrenn-event", &delivery.event)
        .header("wrenn-delivery", &delivery.id)
        .header("wrenn-signature", signature(secret, now, &delivery.body))
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(answer.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_when_attempts_grow_then_doubles() {
        assert_eq!(
            (1..=4).map(backoff_ms).collect::<Vec<_>>(),
            [1000, 2000, 4000, 8000]
        );
    }

    #[test]
    fn signature_when_known_key_then_hmac_of_t_dot_body() {
        // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac key
        let sig = signature("key", 1_700_000_000, "{}");
        assert_eq!(
            sig,
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }
}
