//! Templates on every host (docs/architecture.md, "Templates on every
//! host"): which hosts hold a team template ([`Spread`], for the
//! scheduler), and the copy of a template onto a host that lacks it
//! ([`copy_to`]): that host's agent fetches it from a holder's agent with a
//! short-lived grant signed for the holder, verifies it by digest, and the
//! copy is recorded in `template_hosts`.
use wrenn_types::HostId;

use crate::{
    agent::{AgentApi, AgentError, AgentFetch, AgentTemplate, HostTarget},
    db::{self, templates::TemplateRow},
    state::AppState,
};

/// How long a grant lets the fetching agent read the template. A fetch
/// asks for the manifest and then each file; a grant that runs out
/// mid-file does not cut a transfer already under way.
pub const GRANT_TTL_MS: u64 = 5 * 60 * 1000;

/// Where a template's files are.
#[derive(Debug, Clone, Default)]
pub struct Spread {
    /// Hosts that hold a copy, the maker first.
    pub holders: Vec<String>,
    /// The content address, when the template has one.
    pub digest: Option<String>,
    /// Holders another agent can fetch from (registered, plain HTTP).
    sources: Vec<HostTarget>,
}

impl Spread {
    /// Whether a host without the template can be given a copy.
    pub fn can_copy(&self) -> bool {
        self.digest.is_some() && !self.sources.is_empty()
    }

    /// The one host the scheduler must use, if copies are not possible:
    /// the host that made the template (built-ins are on every host).
    pub fn only_host<'t>(&self, template: &'t TemplateRow) -> Option<&'t str> {
        (!self.can_copy())
            .then_some(template.host_id.as_deref())
            .flatten()
    }

    pub fn holds(&self, host_id: &str) -> bool {
        self.holders.iter().any(|h| h == host_id)
    }
}

/// The holders of `template` and the ones that can serve a copy.
pub async fn spread(state: &AppState, template: &TemplateRow) -> Result<Spread, sqlx::Error> {
    if template.builtin {
        return Ok(Spread::default());
    }
    let rows = db::template_hosts::holders(&state.db, &template.id).await?;
    let mut spread = Spread {
        digest: rows.first().map(|r| r.digest.clone()),
        ..Spread::default()
    };
    for row in rows {
        if let Ok(id) = HostId::try_from(row.host_id.as_str()) {
            match state.hosts.target(&id).await {
                // Agents fetch over plain HTTP only (they hold no TLS
                // client of their own yet); the files are checked by hash.
                Ok(Some(target)) if target.tls_fingerprint.is_none() => {
                    spread.sources.push(target);
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(host_id = row.host_id, error = %err, "cannot read a template holder's record");
                }
            }
        }
        spread.holders.push(row.host_id);
    }
    Ok(spread)
}

/// Records that `host_id` made `template` (its content address lets other
/// hosts fetch it). A failure is logged, not returned: the template still
/// works on the host that made it, as before copies.
pub async fn record_made(state: &AppState, template_id: &str, host_id: &str, made: &AgentTemplate) {
    if made.digest.is_empty() {
        return;
    }
    let bytes = i64::try_from(made.bytes).unwrap_or(i64::MAX);
    if let Err(err) =
        db::template_hosts::insert(&state.db, template_id, host_id, &made.digest, bytes).await
    {
        tracing::warn!(template_id, error = %err, "cannot record the template's copy");
    }
}

/// Why a template could not be copied to a host.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("template {image} has no host to copy it from")]
    NoSource { image: String },
    #[error("host {host_id} could not copy template {image}: {source}")]
    Fetch {
        host_id: String,
        image: String,
        #[source]
        source: AgentError,
    },
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// The grant header value for `image` on the agent whose secret is
/// `secret`, valid until `expires_ms`.
pub fn grant(secret: &str, image: &str, expires_ms: u64) -> String {
    let mac = wrenn_types::host_wire::template_grant_mac(secret, image, expires_ms);
    format!("{expires_ms}.{mac}")
}

/// Has `agent` (host `host_id`) fetch `template` from a holder, and records
/// the copy. What the copy moved and how long it took is logged.
pub async fn copy_to(
    state: &AppState,
    template: &TemplateRow,
    spread: &Spread,
    host_id: &str,
    agent: &dyn AgentApi,
) -> Result<AgentTemplate, CopyError> {
    let no_source = || CopyError::NoSource {
        image: template.image.clone(),
    };
    let digest = spread.digest.clone().ok_or_else(no_source)?;
    let source = spread
        .sources
        .iter()
        .find(|s| s.host_id.as_str() != host_id)
        .ok_or_else(no_source)?;
    let expires_ms = u64::try_from(db::now_ms()).unwrap_or(0) + GRANT_TTL_MS;
    let request = AgentFetch {
        image: template.image.clone(),
        digest: digest.clone(),
        source_url: format!("http://{}", source.address),
        grant: grant(source.secret.expose(), &template.image, expires_ms),
    };
    let fetch_error = |source| CopyError::Fetch {
        host_id: host_id.to_owned(),
        image: template.image.clone(),
        source,
    };
    let fetched = agent.fetch_template(&request).await.map_err(&fetch_error)?;
    if fetched.template.digest != digest {
        // The agent verifies; a host that answers otherwise is not trusted.
        return Err(fetch_error(AgentError::Unavailable(format!(
            "the copy has digest '{}', not {digest}",
            fetched.template.digest
        ))));
    }
    let bytes = i64::try_from(fetched.template.bytes).unwrap_or(i64::MAX);
    db::template_hosts::insert(&state.db, &template.id, host_id, &digest, bytes).await?;
    tracing::info!(
        template_id = template.id,
        image = template.image,
        host_id,
        from_host = source.host_id.as_str(),
        fetched_bytes = fetched.fetched_bytes,
        duration_ms = fetched.duration_ms,
        "template copied to a host"
    );
    Ok(fetched.template)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(host_id: Option<&str>) -> TemplateRow {
        TemplateRow {
            id: "tpl_1".into(),
            team_id: Some("team_a".into()),
            name: "t".into(),
            image: "tm-1".into(),
            builtin: false,
            vcpus: 1,
            memory_mb: 256,
            disk_mb: None,
            has_memory_snapshot: false,
            source_sandbox_id: None,
            created_at: 0,
            host_id: host_id.map(str::to_owned),
        }
    }

    #[test]
    fn only_host_when_no_digest_or_source_then_the_maker() {
        let made_on_a = template(Some("host_a"));
        let legacy = Spread::default();
        assert_eq!(legacy.only_host(&made_on_a), Some("host_a"));
        let digest_without_source = Spread {
            holders: vec!["host_a".into()],
            digest: Some("d".repeat(64)),
            sources: vec![],
        };
        assert!(!digest_without_source.can_copy());
        assert_eq!(digest_without_source.only_host(&made_on_a), Some("host_a"));
    }

    #[test]
    fn only_host_when_copies_possible_then_none() {
        let spread = Spread {
            holders: vec!["host_a".into()],
            digest: Some("d".repeat(64)),
            sources: vec![HostTarget {
                host_id: HostId::try_from("host_a").expect("id"),
                address: "10.0.0.1:50052".into(),
                secret: crate::secret::SecretString::new("s"),
                tls_fingerprint: None,
            }],
        };
        assert!(spread.can_copy());
        assert_eq!(spread.only_host(&template(Some("host_a"))), None);
        assert!(spread.holds("host_a") && !spread.holds("host_b"));
    }

    #[test]
    fn grant_when_made_then_agent_side_format() {
        let made = grant("secret", "tm-1", 1234);
        let (expires, mac) = made.split_once('.').expect("two parts");
        assert_eq!(expires, "1234");
        assert_eq!(
            mac,
            wrenn_types::host_wire::template_grant_mac("secret", "tm-1", 1234)
        );
    }
}
