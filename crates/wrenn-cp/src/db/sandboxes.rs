//! Sandbox records and their state transitions. Every read is scoped by
//! team except the reconciler's, which works per host.
use std::collections::BTreeMap;

use sqlx::{any::AnyRow, Row};

use super::{get_bool, get_json, new_ordered_id, now_ms, Db, DbKind};
use wrenn_types::TimeoutAction;

use crate::lifecycle::SandboxState;

pub use super::sandbox_row::SandboxRow;

const COLUMNS: &str = "id, team_id, host_id, template, template_image, state, reason, vcpus, \
    memory_mb, disk_mb, timeout_secs, on_timeout, metadata, internet, egress_allow, egress_deny, \
    from_snapshot, created_by, created_at, started_at, timeout_at, updated_at, auto_resume, \
    public_traffic, traffic_token_hash";

fn row(row: &AnyRow) -> Result<SandboxRow, sqlx::Error> {
    let state: String = row.try_get("state")?;
    let on_timeout: String = row.try_get("on_timeout")?;
    let on_timeout = TimeoutAction::parse(&on_timeout)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown on_timeout '{on_timeout}'").into()))?;
    Ok(SandboxRow {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        host_id: row.try_get("host_id")?,
        template: row.try_get("template")?,
        template_image: row.try_get("template_image")?,
        state: SandboxState::parse(&state).unwrap_or(SandboxState::Error),
        reason: row.try_get("reason")?,
        vcpus: row.try_get("vcpus")?,
        memory_mb: row.try_get("memory_mb")?,
        disk_mb: row.try_get("disk_mb")?,
        timeout_secs: row.try_get("timeout_secs")?,
        on_timeout,
        metadata: get_json(row, "metadata")?,
        internet: get_bool(row, "internet")?,
        egress_allow: get_json(row, "egress_allow")?,
        egress_deny: get_json(row, "egress_deny")?,
        from_snapshot: get_bool(row, "from_snapshot")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        timeout_at: row.try_get("timeout_at")?,
        updated_at: row.try_get("updated_at")?,
        auto_resume: get_bool(row, "auto_resume")?,
        public_traffic: get_bool(row, "public_traffic")?,
        traffic_token_hash: row.try_get("traffic_token_hash")?,
        traffic_access_token: None,
    })
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub async fn insert(db: &Db, sandbox: &SandboxRow) -> Result<(), sqlx::Error> {
    // The record and its first event appear together.
    let mut tx = db.pool.begin().await?;
    insert_in(&mut tx, sandbox).await?;
    tx.commit().await
}

/// [`insert`] inside `tx` (with the pool reservation: `db::pools`).
pub async fn insert_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sandbox: &SandboxRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO sandboxes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)"
    ))
    .bind(&sandbox.id)
    .bind(&sandbox.team_id)
    .bind(&sandbox.host_id)
    .bind(&sandbox.template)
    .bind(&sandbox.template_image)
    .bind(sandbox.state.as_str())
    .bind(&sandbox.reason)
    .bind(sandbox.vcpus)
    .bind(sandbox.memory_mb)
    .bind(sandbox.disk_mb)
    .bind(sandbox.timeout_secs)
    .bind(sandbox.on_timeout.as_str())
    .bind(json(&sandbox.metadata))
    .bind(super::flag(sandbox.internet))
    .bind(json(&sandbox.egress_allow))
    .bind(json(&sandbox.egress_deny))
    .bind(super::flag(sandbox.from_snapshot))
    .bind(&sandbox.created_by)
    .bind(sandbox.created_at)
    .bind(sandbox.started_at)
    .bind(sandbox.timeout_at)
    .bind(sandbox.updated_at)
    .bind(super::flag(sandbox.auto_resume))
    .bind(super::flag(sandbox.public_traffic))
    .bind(&sandbox.traffic_token_hash)
    .execute(&mut **tx)
    .await?;
    record_event(tx, &sandbox.id, "", sandbox.state, "", now_ms()).await
}

/// Records new sandboxes (all of one team) with their running
/// reservations, if all of them fit `limits`: all or none.
pub async fn insert_reserved(
    db: &Db,
    sandboxes: &[SandboxRow],
    limits: &super::pools::Amounts,
) -> Result<bool, sqlx::Error> {
    let Some(first) = sandboxes.first() else {
        return Ok(true);
    };
    let mut tx = db.pool.begin().await?;
    let need = sandboxes
        .iter()
        .fold(super::pools::Amounts::default(), |sum, s| {
            sum.plus(super::pools::Shape::of(s).held(Some(super::pools::Phase::Running)))
        });
    if !super::pools::reserve_in(&mut tx, &first.team_id, need, limits).await? {
        return Ok(false);
    }
    for sandbox in sandboxes {
        let shape = super::pools::Shape::of(sandbox);
        let (id, team) = (&sandbox.id, &sandbox.team_id);
        super::pools::write_reservation(
            &mut tx,
            id,
            team,
            shape,
            Some(super::pools::Phase::Running),
        )
        .await?;
        insert_in(&mut tx, sandbox).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A team's sandbox; `None` for other teams' (existence is not leaked).
pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<SandboxRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sandboxes WHERE id = $1 AND team_id = $2"
    ))
    .bind(id)
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// Any team's sandbox `id`: the sandbox proxy's route lookup, which has no
/// caller team (the sandbox id routes; envd's and the traffic token
/// authenticate).
pub async fn get_any(db: &Db, id: &str) -> Result<Option<SandboxRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM sandboxes WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

/// Filters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<SandboxState>,
    /// Any of these states (empty: any state); with `state`, both apply.
    pub any_state: Vec<SandboxState>,
    pub metadata: BTreeMap<String, String>,
    /// Only sandboxes of this template (by name).
    pub template: Option<String>,
    /// Only sandboxes started (or, not started yet, created) at or after
    /// this instant (Unix ms).
    pub started_after: Option<i64>,
    /// `(created_at, id)` of the last sandbox of the previous page.
    pub before: Option<(i64, String)>,
    /// Oldest first (and `before` is then the newest one already seen).
    pub oldest_first: bool,
    pub limit: i64,
}

/// A team's sandboxes, newest first (oldest first with `oldest_first`).
///
/// The page comes back as ONE value, a JSON array of rows built by the
/// database, rather than one row per sandbox: each row of a result costs a
/// hand-off between the SQLite driver's thread and ours and a copy of
/// every column, which made the rows, not the query, most of a list's time.
pub async fn list(
    db: &Db,
    team_id: &str,
    filter: &ListFilter,
) -> Result<Vec<SandboxRow>, sqlx::Error> {
    let (after, order) = if filter.oldest_first {
        ("(created_at > $2 OR (created_at = $2 AND id > $3))", "ASC")
    } else {
        ("(created_at < $2 OR (created_at = $2 AND id < $3))", "DESC")
    };
    let mut sql = format!("SELECT {COLUMNS} FROM sandboxes WHERE team_id = $1 AND {after}");
    let mut n = 3;
    if filter.state.is_some() {
        n += 1;
        sql.push_str(&format!(" AND state = ${n}"));
    }
    if !filter.any_state.is_empty() {
        let places: Vec<String> = (0..filter.any_state.len())
            .map(|i| format!("${}", n + 1 + i))
            .collect();
        n += filter.any_state.len();
        sql.push_str(&format!(" AND state IN ({})", places.join(", ")));
    }
    if filter.template.is_some() {
        n += 1;
        sql.push_str(&format!(" AND template = ${n}"));
    }
    if filter.started_after.is_some() {
        n += 1;
        sql.push_str(&format!(" AND COALESCE(started_at, created_at) >= ${n}"));
    }
    for _ in &filter.metadata {
        // Keys and values are bound, never spliced into the SQL.
        let (key, value) = (n + 1, n + 2);
        n += 2;
        sql.push_str(&match db.kind {
            // Not `json_extract`: a JSON path cannot name a key that
            // contains a double quote.
            DbKind::Sqlite => format!(
                " AND EXISTS (SELECT 1 FROM json_each(metadata) WHERE key = ${key} AND value = ${value})"
            ),
            DbKind::Postgres => format!(" AND (metadata::jsonb ->> ${key}) = ${value}"),
        });
    }
    sql.push_str(&format!(
        " ORDER BY created_at {order}, id {order} LIMIT ${}",
        n + 1
    ));
    let start = if filter.oldest_first {
        (i64::MIN, String::new())
    } else {
        (i64::MAX, String::new())
    };
    let (at, id) = filter.before.clone().unwrap_or(start);
    let sql = json_page(db.kind, &sql);
    let mut query = sqlx::query(&sql).bind(team_id).bind(at).bind(id);
    if let Some(state) = filter.state {
        query = query.bind(state.as_str());
    }
    for state in &filter.any_state {
        query = query.bind(state.as_str());
    }
    if let Some(template) = &filter.template {
        query = query.bind(template.clone());
    }
    if let Some(started_after) = filter.started_after {
        query = query.bind(started_after);
    }
    for (key, value) in &filter.metadata {
        query = query.bind(key.clone()).bind(value.clone());
    }
    let page: Option<String> = query
        .bind(filter.limit)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let listed: Vec<ListedRow> = serde_json::from_str(page.as_deref().unwrap_or("[]"))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let mut rows = listed
        .into_iter()
        .map(SandboxRow::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    // An aggregate's input order is not promised: sort again.
    rows.sort_unstable_by(|a, b| {
        let order = (a.created_at, &a.id).cmp(&(b.created_at, &b.id));
        if filter.oldest_first {
            order
        } else {
            order.reverse()
        }
    });
    Ok(rows)
}

/// The page of [`list`] as one JSON array of rows (`[[id, team_id, ...],
/// ...]`, the columns in [`COLUMNS`]'s order, JSON columns nested as JSON),
/// over the rows of `page_sql`.
fn json_page(kind: DbKind, page_sql: &str) -> String {
    match kind {
        DbKind::Sqlite => format!(
            "SELECT json_group_array(json_array(id, team_id, host_id, template, \
             template_image, state, reason, vcpus, memory_mb, disk_mb, timeout_secs, on_timeout, \
             json(metadata), internet, json(egress_allow), json(egress_deny), from_snapshot, \
             created_by, created_at, started_at, timeout_at, updated_at, auto_resume, \
             public_traffic, traffic_token_hash)) FROM ({page_sql}) AS page"
        ),
        DbKind::Postgres => format!(
            "SELECT json_agg(json_build_array(id, team_id, host_id, template, \
             template_image, state, reason, vcpus, memory_mb, disk_mb, timeout_secs, on_timeout, \
             metadata::json, internet, egress_allow::json, egress_deny::json, from_snapshot, \
             created_by, created_at, started_at, timeout_at, updated_at, auto_resume, \
             public_traffic, traffic_token_hash))::text FROM ({page_sql}) AS page"
        ),
    }
}

/// One row of [`json_page`], in [`COLUMNS`]'s order (serde reads a struct
/// from a JSON array field by field).
#[derive(serde::Deserialize)]
struct ListedRow {
    id: String,
    team_id: String,
    host_id: Option<String>,
    template: String,
    template_image: String,
    state: String,
    reason: String,
    vcpus: i64,
    memory_mb: i64,
    disk_mb: Option<i64>,
    timeout_secs: i64,
    on_timeout: String,
    metadata: BTreeMap<String, String>,
    internet: i64,
    egress_allow: Vec<String>,
    egress_deny: Vec<String>,
    from_snapshot: i64,
    created_by: String,
    created_at: i64,
    started_at: Option<i64>,
    timeout_at: Option<i64>,
    updated_at: i64,
    auto_resume: i64,
    public_traffic: i64,
    traffic_token_hash: Option<String>,
}

impl TryFrom<ListedRow> for SandboxRow {
    type Error = sqlx::Error;

    /// As [`row`] decodes a row of [`COLUMNS`].
    fn try_from(r: ListedRow) -> Result<Self, sqlx::Error> {
        let on_timeout = TimeoutAction::parse(&r.on_timeout).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown on_timeout '{}'", r.on_timeout).into())
        })?;
        Ok(Self {
            id: r.id,
            team_id: r.team_id,
            host_id: r.host_id,
            template: r.template,
            template_image: r.template_image,
            state: SandboxState::parse(&r.state).unwrap_or(SandboxState::Error),
            reason: r.reason,
            vcpus: r.vcpus,
            memory_mb: r.memory_mb,
            disk_mb: r.disk_mb,
            timeout_secs: r.timeout_secs,
            on_timeout,
            metadata: r.metadata,
            internet: r.internet != 0,
            egress_allow: r.egress_allow,
            egress_deny: r.egress_deny,
            from_snapshot: r.from_snapshot != 0,
            created_by: r.created_by,
            created_at: r.created_at,
            started_at: r.started_at,
            timeout_at: r.timeout_at,
            updated_at: r.updated_at,
            auto_resume: r.auto_resume != 0,
            public_traffic: r.public_traffic != 0,
            traffic_token_hash: r.traffic_token_hash,
            traffic_access_token: None,
        })
    }
}

/// Live sandboxes placed on a host (the reconciler's view).
pub async fn live_on_host(db: &Db, host_id: &str) -> Result<Vec<SandboxRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sandboxes WHERE host_id = $1 AND state IN ('starting', 'running', 'paused', 'lost')"
    ))
    .bind(host_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

/// Sandboxes recorded but not yet handed to their host.
pub async fn pending_on_host(db: &Db, host_id: &str) -> Result<Vec<SandboxRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sandboxes WHERE host_id = $1 AND state = 'pending'"
    ))
    .bind(host_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

/// Live sandboxes of a team, for its quota.
pub async fn count_live(db: &Db, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM sandboxes WHERE team_id = $1 AND state IN ('pending', 'starting', 'running', 'paused')",
    )
    .bind(team_id)
    .fetch_one(&db.pool)
    .await
}

/// What else changes with a transition.
#[derive(Debug, Clone, Default)]
pub struct TransitionExtras {
    pub started_at: Option<i64>,
    pub timeout_at: Option<i64>,
    pub from_snapshot: Option<bool>,
    /// The final guest CPU reading (ms) of the sandbox's VMM that its host
    /// answered with the transition (pause, destroy), for the ledger.
    pub cpu_ms: Option<i64>,
}

/// Moves a sandbox to `to` if it is in a state that may become `to`;
/// returns false (and changes nothing) otherwise.
pub async fn transition(
    db: &Db,
    id: &str,
    to: SandboxState,
    reason: &str,
    extras: TransitionExtras,
) -> Result<bool, sqlx::Error> {
    let sources = SandboxState::sources_of(to);
    let sandbox = sqlx::query(&format!("SELECT {COLUMNS} FROM sandboxes WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(row)
        .transpose()?;
    let Some(sandbox) = sandbox else {
        return Ok(false);
    };
    let from = sandbox.state;
    if !sources.contains(&from) {
        return Ok(false);
    }
    let now = now_ms();
    // The state and its event are one change: a reader never sees a state
    // whose transition is not recorded yet.
    let mut tx = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE sandboxes SET state = $1, reason = $2, updated_at = $3, \
         started_at = COALESCE($4, started_at), timeout_at = COALESCE($5, timeout_at), \
         from_snapshot = COALESCE($6, from_snapshot) WHERE id = $7 AND state = $8",
    )
    .bind(to.as_str())
    .bind(reason)
    .bind(now)
    .bind(extras.started_at)
    .bind(extras.timeout_at)
    .bind(extras.from_snapshot.map(super::flag))
    .bind(id)
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    record_event(&mut tx, id, from.as_str(), to, reason, now).await?;
    // The pool and the usage ledger follow the state in its transaction.
    if let Some(phase) = super::pools::phase_of(to) {
        super::pools::move_in(&mut tx, &sandbox, phase, None).await?;
    }
    super::usage::on_transition_in(&mut tx, &sandbox, to, now, extras.cpu_ms).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn set_timeout_at(
    db: &Db,
    id: &str,
    timeout_at: i64,
    timeout_secs: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sandboxes SET timeout_at = $1, timeout_secs = COALESCE($2, timeout_secs), updated_at = $3 WHERE id = $4",
    )
    .bind(timeout_at)
    .bind(timeout_secs)
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Replaces the sandbox's egress policy (after its host applied it).
pub async fn set_egress(
    db: &Db,
    id: &str,
    internet: bool,
    allow: &[String],
    deny: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sandboxes SET internet = $1, egress_allow = $2, egress_deny = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(super::flag(internet))
    .bind(json(&allow))
    .bind(json(&deny))
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

async fn record_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    from: &str,
    to: SandboxState,
    reason: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sandbox_events (id, sandbox_id, at, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_ordered_id("sev_"))
    .bind(id)
    .bind(at)
    .bind(from)
    .bind(to.as_str())
    .bind(reason)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The recorded transitions of a sandbox, oldest first: `(at, from, to, reason)`.
pub async fn events(db: &Db, id: &str) -> Result<Vec<(i64, String, String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, from_state, to_state, reason FROM sandbox_events WHERE sandbox_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("at")?,
                r.try_get("from_state")?,
                r.try_get("to_state")?,
                r.try_get("reason")?,
            ))
        })
        .collect()
}

/// Removes a record and its events (a create the host refused outright).
pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    if let Some(sandbox) = get_any(db, id).await? {
        // Whatever it held of its team's pool is freed.
        super::pools::move_to(db, &sandbox, None, None).await?;
    }
    sqlx::query("DELETE FROM sandbox_events WHERE sandbox_id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM sandboxes WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// The team's sandboxes that may still hold a VM (team deletion).
pub async fn not_stopped_of_team(db: &Db, team_id: &str) -> Result<Vec<SandboxRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sandboxes WHERE team_id = $1 AND state <> 'stopped' ORDER BY created_at, id"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

/// Deletes the records (and state histories) of `stopped` and `error`
/// sandboxes last changed before `before` (Unix ms), at most `limit` of
/// them; answers their `(id, team_id)` (the retention purge).
pub async fn purge_finished(
    db: &Db,
    before: i64,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, team_id FROM sandboxes WHERE state IN ('stopped', 'error') AND updated_at < $1 \
         ORDER BY updated_at, id LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut purged = Vec::with_capacity(rows.len());
    for r in &rows {
        let (id, team_id): (String, String) = (r.try_get("id")?, r.try_get("team_id")?);
        let mut tx = db.pool.begin().await?;
        sqlx::query("DELETE FROM sandbox_events WHERE sandbox_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        // The state guard: a record that changed since it was read stays.
        let deleted = sqlx::query(
            "DELETE FROM sandboxes WHERE id = $1 AND state IN ('stopped', 'error') AND updated_at < $2",
        )
        .bind(&id)
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 1 {
            tx.commit().await?;
            purged.push((id, team_id));
        }
    }
    Ok(purged)
}
