//! Hosts: who may see and manage a record, its tags, agent registration
//! and heartbeats (docs/hosts.md), and the directory the agent connections
//! read. Each operation has its own error
//! enum; `error.rs` maps them to HTTP.
mod access;
pub mod address;
mod directory;
mod heartbeat;
mod placed;
mod records;
pub(crate) mod registration;
pub mod tags;

pub use access::{load, Access, HostAccessError};
pub use directory::DbDirectory;
pub use heartbeat::{heartbeat, HeartbeatError};
pub use placed::sandboxes_on_host;
pub use records::{
    expiry, get, issue_token, list, set_draining, HostRecord, IssueTokenError, IssuedToken,
};
pub use registration::{register, RegisterError};

/// What a certificate fingerprint must be, for error messages.
pub const FINGERPRINT_RULE: &str =
    "tls_fingerprint must be the certificate's SHA-256: 64 hex digits";

/// A certificate fingerprint as 64 lowercase hex digits (colons and case
/// as `openssl x509 -fingerprint -sha256` prints them are accepted).
pub fn normalise_fingerprint(raw: &str) -> Option<String> {
    let hex: String = raw
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}
