//! Login lockout, the pure part: which counters a login attempt touches and
//! how long a run of wrong passwords locks them. The counters themselves
//! are rows of `login_failures` (`db::accounts`), shared by every
//! control-plane replica, so a lockout survives a hop to another one.
use std::time::Duration;

use sha2::{Digest, Sha256};

/// What a run of failures locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One account from one client address.
    Client,
    /// One account from anywhere.
    Account,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Account => "account",
        }
    }
}

/// When failures lock, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures of one account from one client before that pair locks.
    pub client_after: u32,
    /// Failures of one account from any client before the account locks.
    pub account_after: u32,
    /// The first lock; each further failure doubles it, up to `max`.
    pub base: Duration,
    pub max: Duration,
}

impl Policy {
    fn threshold(&self, scope: Scope) -> u32 {
        match scope {
            Scope::Client => self.client_after,
            Scope::Account => self.account_after,
        }
    }

    /// How long `failures` consecutive failures in `scope` lock it for;
    /// `None` below the threshold.
    pub fn lock_for(&self, scope: Scope, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold(scope))?;
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// The counters one attempt for `email` (normalised) from `client`
/// touches, as `(scope, subject)`. Subjects are SHA-256 digests, so the
/// table holds no addresses nor the emails of accounts that do not exist.
pub fn subjects(client: &str, email: &str) -> [(Scope, String); 2] {
    let digest = |text: &str| -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    [
        (Scope::Client, digest(&format!("{client}\n{email}"))),
        (Scope::Account, digest(email)),
    ]
}

/// Whole seconds to wait, rounded up (the `Retry-After` value), at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        client_after: 5,
        account_after: 20,
        base: Duration::from_secs(30),
        max: Duration::from_secs(900),
    };

    #[test]
    fn lock_for_when_below_threshold_then_none_then_doubles_to_max() {
        assert_eq!(POLICY.lock_for(Scope::Client, 4), None);
        assert_eq!(
            POLICY.lock_for(Scope::Client, 5),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            POLICY.lock_for(Scope::Client, 6),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            POLICY.lock_for(Scope::Client, 500),
            Some(Duration::from_secs(900))
        );
        assert_eq!(POLICY.lock_for(Scope::Account, 19), None);
    }

    #[test]
    fn subjects_when_other_client_then_account_subject_shared() {
        let a = subjects("10.0.0.1", "ada@example.com");
        let b = subjects("10.0.0.2", "ada@example.com");
        assert_ne!(a[0], b[0]);
        assert_eq!(a[1], b[1]);
        assert!(!a[1].1.contains("ada"));
    }

    #[test]
    fn retry_after_secs_when_fractional_then_rounded_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
