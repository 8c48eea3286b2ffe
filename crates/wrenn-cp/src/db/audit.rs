//! The audit log: who did what to which resource, and how it ended.
use sqlx::{any::AnyRow, Row};

use super::{new_id, now_ms, Db};

/// One audit entry to write.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub team_id: Option<&'a str>,
    pub actor_type: &'a str,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
}

/// One recorded audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    pub team_id: Option<String>,
    /// `user`, `api_key`, `host` or `system`.
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub detail: String,
}

pub async fn insert(db: &Db, event: &NewAuditEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, team_id, actor_type, actor_id, action, \
         resource_type, resource_id, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id("aud_"))
    .bind(now_ms())
    .bind(event.team_id)
    .bind(event.actor_type)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.resource_type)
    .bind(event.resource_id)
    .bind(event.outcome)
    .bind(event.detail)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

fn event_row(row: &AnyRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        team_id: row.try_get("team_id")?,
        actor_type: row.try_get("actor_type")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
    })
}

/// How `action` is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionFilter {
    Exact(String),
    /// Actions starting with this text (the API's `sandbox.*` is the prefix
    /// `sandbox.`).
    Prefix(String),
}

/// Which events to list; `None` fields match every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The actor's id.
    pub actor: Option<String>,
    pub action: Option<ActionFilter>,
    /// The resource's id.
    pub target: Option<String>,
    pub outcome: Option<String>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
}

/// A `LIKE` pattern for text starting with `prefix` (`ESCAPE '\'`).
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::new();
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A team's events matching `filter`, newest first, `limit` of them after
/// the `before` cursor (`(at, id)` of the last event of the previous page).
pub async fn list(
    db: &Db,
    team_id: &str,
    filter: &AuditFilter,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let (at, id) = before.unwrap_or((i64::MAX, String::new()));
    // $1..$4 are fixed; each filter present adds one numbered condition.
    let mut texts: Vec<String> = Vec::new();
    let mut conditions = String::new();
    let mut text_condition = |column: &str, op: &str, value: String| {
        texts.push(value);
        let n = texts.len() + 4;
        let escape = if op == "LIKE" { " ESCAPE '\\'" } else { "" };
        conditions.push_str(&format!(" AND {column} {op} ${n}{escape}"));
    };
    if let Some(actor) = &filter.actor {
        text_condition("actor_id", "=", actor.clone());
    }
    match &filter.action {
        Some(ActionFilter::Exact(action)) => text_condition("action", "=", action.clone()),
        Some(ActionFilter::Prefix(prefix)) => {
            text_condition("action", "LIKE", prefix_pattern(prefix));
        }
        None => {}
    }
    if let Some(target) = &filter.target {
        text_condition("resource_id", "=", target.clone());
    }
    if let Some(outcome) = &filter.outcome {
        text_condition("outcome", "=", outcome.clone());
    }
    let mut instants = Vec::new();
    for (bound, op) in [(filter.since, ">="), (filter.until, "<")] {
        if let Some(ms) = bound {
            instants.push(ms);
            let n = texts.len() + instants.len() + 4;
            conditions.push_str(&format!(" AND at {op} ${n}"));
        }
    }
    let sql = format!(
        "SELECT id, at, team_id, actor_type, actor_id, action, resource_type, resource_id, \
         outcome, detail FROM audit_events WHERE team_id = $1 \
         AND (at < $2 OR (at = $2 AND id < $3)){conditions} \
         ORDER BY at DESC, id DESC LIMIT $4"
    );
    let mut query = sqlx::query(&sql)
        .bind(team_id)
        .bind(at)
        .bind(id)
        .bind(limit);
    for text in texts {
        query = query.bind(text);
    }
    for ms in instants {
        query = query.bind(ms);
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter().map(event_row).collect()
}

#[cfg(test)]
mod tests {
    use super::prefix_pattern;

    #[test]
    fn prefix_pattern_when_wildcards_then_escaped() {
        assert_eq!(prefix_pattern("sandbox."), "sandbox.%");
        assert_eq!(prefix_pattern("a_b%"), "a\\_b\\%%");
    }
}
