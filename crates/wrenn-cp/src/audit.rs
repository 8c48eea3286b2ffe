//! Writing the audit log from handlers. A failure to write an audit entry is
//! logged, not returned: the action itself has already happened.
use crate::{auth::Principal, db};

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// Records `principal` doing `action` on a resource of its team.
pub async fn record(
    db: &db::Db,
    principal: &Principal,
    action: &str,
    resource: (&str, &str),
    outcome: Outcome,
    detail: &str,
) {
    let (actor_type, actor_id) = principal.audit_actor();
    write(
        db,
        db::audit::NewAuditEvent {
            team_id: Some(&principal.team_id),
            actor_type,
            actor_id,
            action,
            resource_type: resource.0,
            resource_id: resource.1,
            outcome: outcome.as_str(),
            detail,
        },
    )
    .await;
}

/// Records something the control plane did by itself (the reconciler).
pub async fn record_system(
    db: &db::Db,
    team_id: &str,
    action: &str,
    resource: (&str, &str),
    detail: &str,
) {
    write(
        db,
        db::audit::NewAuditEvent {
            team_id: Some(team_id),
            actor_type: "system",
            actor_id: "reconciler",
            action,
            resource_type: resource.0,
            resource_id: resource.1,
            outcome: Outcome::Ok.as_str(),
            detail,
        },
    )
    .await;
}

pub async fn write(db: &db::Db, event: db::audit::NewAuditEvent<'_>) {
    if let Err(err) = db::audit::insert(db, &event).await {
        tracing::error!(error = %err, action = event.action, "cannot write the audit log");
    }
}
