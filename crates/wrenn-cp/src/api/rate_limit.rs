//! Request limits: token buckets (the `governor` crate's GCRA) per
//! credential (an API key, or a user for user tokens) and per team on every
//! authenticated route, and per client address on signup and login. The
//! buckets live in this process: with several replicas behind a balancer
//! each one allows the configured rate (docs/security.md). The login
//! lockout, which must survive a hop to another replica, is in the database
//! (`auth::lockout`).
//!
//! [`layer`] gives every request a [`Limits`] handle; the [`Principal`]
//! extractor (`api::authenticate`) and the auth handlers check their
//! buckets through it, and [`layer`] then writes the tightest bucket's
//! state into `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (seconds) on the answer, 429s included.
use std::{
    hash::Hash,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request, State},
    http::{request::Parts, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use governor::{
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};

use crate::{
    auth::{lockout::retry_after_secs, Actor, Principal},
    config::{Rate, RateLimitConfig},
    error::ApiError,
};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// How often (in checks) idle buckets are dropped, so that the maps do not
/// grow with every key and address ever seen.
const SWEEP_EVERY: u64 = 4096;

/// The buckets of one control-plane process.
#[derive(Debug)]
pub struct RateLimits {
    enabled: bool,
    trust_forwarded_for: bool,
    per_credential: Keyed<String>,
    per_team: Keyed<String>,
    auth_per_client: Keyed<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// The state of the tightest bucket a request went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again (allowed) or admits one more (refused).
    pub reset: Duration,
}

fn quota(rate: Rate) -> Quota {
    Quota::with_period(rate.period)
        .unwrap_or_else(|| Quota::per_second(rate.burst))
        .allow_burst(rate.burst)
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        let keyed = |rate| RateLimiter::keyed(quota(rate)).with_middleware();
        Self {
            enabled: config.enabled,
            trust_forwarded_for: config.trust_forwarded_for,
            per_credential: keyed(config.per_credential),
            per_team: keyed(config.per_team),
            auth_per_client: RateLimiter::keyed(quota(config.auth_per_client)).with_middleware(),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    fn check<K: Hash + Eq + Clone>(&self, limiter: &Keyed<K>, key: &K) -> Result<Verdict, Verdict> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        match limiter.check_key(key) {
            Ok(snapshot) => {
                let quota = snapshot.quota();
                let limit = quota.burst_size().get();
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                Ok(Verdict {
                    limit,
                    remaining,
                    reset: quota.replenish_interval().saturating_mul(used),
                })
            }
            Err(not_until) => Err(Verdict {
                limit: not_until.quota().burst_size().get(),
                remaining: 0,
                reset: not_until.wait_time_from(self.clock.now()),
            }),
        }
    }

    fn sweep(&self) {
        self.per_credential.retain_recent();
        self.per_team.retain_recent();
        self.auth_per_client.retain_recent();
    }

    /// The credential's and its team's buckets.
    pub fn check_principal(
        &self,
        principal: &Principal,
    ) -> Result<Verdict, (Verdict, &'static str)> {
        let credential = match &principal.actor {
            Actor::ApiKey { key_id } => format!("key:{key_id}"),
            Actor::User { user_id, .. } => format!("user:{user_id}"),
        };
        let key = self
            .check(&self.per_credential, &credential)
            .map_err(|v| (v, "API key"))?;
        let team = self
            .check(&self.per_team, &principal.team_id)
            .map_err(|v| (v, "team"))?;
        Ok(tighter(key, team))
    }
}

fn tighter(a: Verdict, b: Verdict) -> Verdict {
    if b.remaining < a.remaining {
        b
    } else {
        a
    }
}

/// What [`layer`] hands a request: the buckets and the verdict slot.
#[derive(Debug, Clone)]
pub struct Limits {
    limits: Arc<RateLimits>,
    verdict: Arc<Mutex<Option<Verdict>>>,
    client: Option<IpAddr>,
}

impl Limits {
    fn note(&self, verdict: Verdict) {
        if let Ok(mut slot) = self.verdict.lock() {
            *slot = Some(match *slot {
                Some(earlier) => tighter(earlier, verdict),
                None => verdict,
            });
        }
    }

    /// Checks the credential and team buckets of an authenticated request.
    pub fn check_principal(&self, principal: &Principal) -> Result<(), ApiError> {
        if !self.limits.enabled {
            return Ok(());
        }
        match self.limits.check_principal(principal) {
            Ok(verdict) => {
                self.note(verdict);
                Ok(())
            }
            Err((verdict, scope)) => {
                self.note(verdict);
                Err(ApiError::RateLimited {
                    scope,
                    retry_after: verdict.reset,
                })
            }
        }
    }

    /// The client address the request came from (`unknown` when the server
    /// was not given one, as in in-process tests).
    pub fn client(&self) -> String {
        self.client
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }

    /// Checks the client's signup-and-login bucket.
    pub fn check_auth(&self) -> Result<(), ApiError> {
        if !self.limits.enabled {
            return Ok(());
        }
        let client = self.client.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        match self.limits.check(&self.limits.auth_per_client, &client) {
            Ok(verdict) => {
                self.note(verdict);
                Ok(())
            }
            Err(verdict) => {
                self.note(verdict);
                Err(ApiError::RateLimited {
                    scope: "client",
                    retry_after: verdict.reset,
                })
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Limits {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("rate_limit::layer is not installed"))
        })
    }
}

/// The client's address: the socket's peer, or with `trust_forwarded_for`
/// the first `X-Forwarded-For` entry.
fn client_address(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The middleware: installs [`Limits`], then writes the verdict headers.
pub async fn layer(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let handle = Limits {
        client: client_address(&parts, limits.trust_forwarded_for),
        limits,
        verdict: Arc::new(Mutex::new(None)),
    };
    parts.extensions.insert(handle.clone());
    let mut response = next.run(Request::from_parts(parts, body)).await;
    let verdict = handle.verdict.lock().ok().and_then(|slot| *slot);
    if let Some(verdict) = verdict {
        write_headers(response.headers_mut(), verdict);
    }
    response
}

fn write_headers(headers: &mut HeaderMap, verdict: Verdict) {
    let reset = if verdict.reset.is_zero() {
        0
    } else {
        retry_after_secs(verdict.reset)
    };
    headers.insert("ratelimit-limit", HeaderValue::from(verdict.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(verdict.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(reset));
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::auth::Role;

    fn limits(burst: u32) -> RateLimits {
        let rate = Rate {
            period: Duration::from_secs(3600),
            burst: NonZeroU32::new(burst).expect("nonzero"),
        };
        RateLimits::new(&RateLimitConfig {
            enabled: true,
            per_credential: rate,
            per_team: Rate {
                burst: NonZeroU32::new(burst * 10).expect("nonzero"),
                ..rate
            },
            auth_per_client: rate,
            lockout_after: 5,
            account_lockout_after: 20,
            lockout_base: Duration::from_secs(1),
            lockout_max: Duration::from_secs(1),
            trust_forwarded_for: false,
        })
    }

    fn key(id: &str) -> Principal {
        Principal {
            actor: Actor::ApiKey { key_id: id.into() },
            team_id: "team_a".into(),
            role: Role::Member,
        }
    }

    #[test]
    fn check_principal_when_burst_spent_then_refused_with_wait_and_other_key_unaffected() {
        let limits = limits(3);
        let first = limits.check_principal(&key("k1")).expect("allowed");
        limits.check_principal(&key("k1")).expect("allowed");
        limits.check_principal(&key("k1")).expect("allowed");
        let (refused, scope) = limits.check_principal(&key("k1")).expect_err("refused");

        assert_eq!((first.limit, first.remaining), (3, 2));
        assert_eq!((refused.remaining, scope), (0, "API key"));
        assert!(refused.reset > Duration::from_secs(3000), "{refused:?}");
        assert!(limits.check_principal(&key("k2")).is_ok());
    }

    #[test]
    fn write_headers_when_verdict_then_three_headers() {
        let mut headers = HeaderMap::new();
        write_headers(
            &mut headers,
            Verdict {
                limit: 400,
                remaining: 399,
                reset: Duration::from_millis(5),
            },
        );
        assert_eq!(headers["ratelimit-limit"], "400");
        assert_eq!(headers["ratelimit-remaining"], "399");
        assert_eq!(headers["ratelimit-reset"], "1");
    }
}
