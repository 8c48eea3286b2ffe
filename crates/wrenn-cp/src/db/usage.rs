//! The usage ledger (`usage_intervals`): one row per interval a sandbox
//! spent running or paused, opened and closed inside the transaction of
//! the state transition that starts and ends it, at the transition's
//! recorded instant. A transition recorded once is metered once: restarts
//! of the control plane or the agent can neither double count nor leave a
//! gap. Queries only; roll-ups and prices are `service::usage`.
use sqlx::{any::AnyRow, Row};

use super::{new_ordered_id, pools::Shape, sandbox_row::SandboxRow, Db};
use crate::lifecycle::SandboxState;

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// What a sandbox is metered for in a state (`None`: nothing).
pub fn metered(state: SandboxState) -> Option<&'static str> {
    match state {
        SandboxState::Running => Some("running"),
        SandboxState::Paused => Some("paused"),
        _ => None,
    }
}

/// The guest CPU figure of a running interval after a reading of its VMM
/// (`cpu_ms` in SQL, the reading `$3`): raised to the reading, never
/// lowered (a late or repeated reading cannot undo a later one), untouched
/// without one, and never set on paused intervals or rows older than the
/// column (NULL).
const RAISE_CPU: &str = "CASE WHEN phase = 'running' AND cpu_ms IS NOT NULL \
    AND $3 IS NOT NULL AND $3 > cpu_ms THEN $3 ELSE cpu_ms END";

/// Closes the sandbox's open interval at `at` and opens the one of `to`.
/// `cpu_ms`: the final reading of the sandbox's VMM at the transition (a
/// pause or destroy answered it), which the closed running interval keeps
/// if it is above what was seen before; a new running interval (a fresh
/// VMM, whose counter starts at 0) opens at 0.
pub async fn on_transition_in(
    tx: &mut Tx<'_>,
    sandbox: &SandboxRow,
    to: SandboxState,
    at: i64,
    cpu_ms: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE usage_intervals SET ended_at = $2, cpu_ms = {RAISE_CPU} \
         WHERE sandbox_id = $1 AND ended_at IS NULL"
    ))
    .bind(&sandbox.id)
    .bind(at)
    .bind(cpu_ms)
    .execute(&mut **tx)
    .await?;
    let Some(phase) = metered(to) else {
        return Ok(());
    };
    let shape = Shape::of(sandbox);
    sqlx::query(
        "INSERT INTO usage_intervals (id, sandbox_id, team_id, template, host_id, phase, vcpus, \
         memory_mb, storage_mb, started_at, ended_at, cpu_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)",
    )
    .bind(new_ordered_id("use_"))
    .bind(&sandbox.id)
    .bind(&sandbox.team_id)
    .bind(&sandbox.template)
    .bind(&sandbox.host_id)
    .bind(phase)
    .bind(shape.vcpus)
    .bind(shape.memory_mb)
    .bind(shape.storage_mb)
    .bind(at)
    .bind((phase == "running").then_some(0_i64))
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Raises the running figure of the sandbox's open running interval to a
/// reading of its VMM taken no earlier than `asked_at` (the host was asked
/// then), so that a host lost later still bills what was seen last. An
/// interval opened after `asked_at` belongs to a newer VMM than the one
/// read and is left alone. Returns whether a row changed.
pub async fn observe_cpu(
    db: &Db,
    sandbox_id: &str,
    cpu_ms: i64,
    asked_at: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(&format!(
        "UPDATE usage_intervals SET cpu_ms = {RAISE_CPU} WHERE sandbox_id = $1 \
         AND ended_at IS NULL AND phase = 'running' AND started_at <= $2 \
         AND cpu_ms IS NOT NULL AND cpu_ms < $3"
    ))
    .bind(sandbox_id)
    .bind(asked_at)
    .bind(cpu_ms)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalRow {
    pub sandbox_id: String,
    pub team_id: String,
    pub template: String,
    pub host_id: Option<String>,
    /// `running` or `paused`.
    pub phase: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub storage_mb: i64,
    pub started_at: i64,
    /// `None`: still open.
    pub ended_at: Option<i64>,
    /// Guest CPU milliseconds its VMM used during it (running intervals;
    /// the running figure while open). `None`: paused, or written before
    /// the ledger measured it.
    pub cpu_ms: Option<i64>,
}

fn interval(row: &AnyRow) -> Result<IntervalRow, sqlx::Error> {
    Ok(IntervalRow {
        sandbox_id: row.try_get("sandbox_id")?,
        team_id: row.try_get("team_id")?,
        template: row.try_get("template")?,
        host_id: row.try_get("host_id")?,
        phase: row.try_get("phase")?,
        vcpus: row.try_get("vcpus")?,
        memory_mb: row.try_get("memory_mb")?,
        storage_mb: row.try_get("storage_mb")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        cpu_ms: row.try_get("cpu_ms")?,
    })
}

const COLUMNS: &str = "sandbox_id, team_id, template, host_id, phase, vcpus, memory_mb, \
    storage_mb, started_at, ended_at, cpu_ms";

/// Intervals overlapping `[start, end)` of one team (`None`: every team),
/// oldest first, at most `limit` after the `(started_at, id)` cursor.
pub async fn overlapping(
    db: &Db,
    team_id: Option<&str>,
    start: i64,
    end: i64,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<(Vec<IntervalRow>, Option<(i64, String)>), sqlx::Error> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, String::new()));
    // Separate statements, so the team's index serves the team's query.
    let team_filter = if team_id.is_some() {
        "team_id = $1"
    } else {
        "$1 = ''"
    };
    let rows = sqlx::query(&format!(
        "SELECT id, {COLUMNS} FROM usage_intervals WHERE {team_filter} \
         AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2) \
         AND (started_at, id) > ($4, $5) \
         ORDER BY started_at, id LIMIT $6"
    ))
    .bind(team_id.unwrap_or(""))
    .bind(start)
    .bind(end)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let next = match rows.last() {
        Some(last) if i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit => {
            Some((last.try_get("started_at")?, last.try_get("id")?))
        }
        _ => None,
    };
    let intervals = rows.iter().map(interval).collect::<Result<_, _>>()?;
    Ok((intervals, next))
}

/// Every interval of one sandbox, oldest first.
pub async fn of_sandbox(db: &Db, sandbox_id: &str) -> Result<Vec<IntervalRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM usage_intervals WHERE sandbox_id = $1 ORDER BY started_at, id"
    ))
    .bind(sandbox_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(interval).collect()
}

/// What [`sums`] groups by (a fixed column, never caller text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumBy {
    Sandbox,
    Template,
    Team,
}

/// Per group: `(key, template, running_ms, paused_ms, vcpu_ms,
/// memory_mib_ms, storage_mib_ms, guest_cpu_ms)`, intervals clipped to
/// `[start, end)` (open ones end at `now`), summed by the database. An
/// interval's guest CPU counts in the share of its time inside the range.
pub type Sums = (String, String, i64, i64, i64, i64, i64, i64);

/// Sums of the ledger of `team_id` (`None`: every team) grouped by `by`.
pub async fn sums(
    db: &Db,
    team_id: Option<&str>,
    by: SumBy,
    start: i64,
    end: i64,
    now: i64,
) -> Result<Vec<Sums>, sqlx::Error> {
    let (key, template) = match by {
        SumBy::Sandbox => ("sandbox_id", "MIN(template)"),
        SumBy::Template => ("template", "''"),
        SumBy::Team => ("team_id", "''"),
    };
    let clipped = match db.kind {
        super::DbKind::Sqlite => "MAX(0, MIN(COALESCE(ended_at, $3), $2) - MAX(started_at, $1))",
        super::DbKind::Postgres => {
            "GREATEST(0, LEAST(COALESCE(ended_at, $3), $2) - GREATEST(started_at, $1))"
        }
    };
    let sum = |what: &str, phase: &str| {
        format!(
            "CAST(COALESCE(SUM(CASE WHEN phase = '{phase}' THEN {what} ELSE 0 END), 0) AS BIGINT)"
        )
    };
    let team_filter = if team_id.is_some() {
        "team_id = $4 AND "
    } else {
        ""
    };
    let cpu = cpu_share(clipped, "(COALESCE(ended_at, $3) - started_at)");
    let sql = format!(
        "SELECT {key} AS k, {template} AS t, {running}, {paused}, {vcpu}, {memory}, {storage}, \
         {cpu} AS cpu_ms \
         FROM usage_intervals WHERE {team_filter}started_at < $2 \
         AND (ended_at IS NULL OR ended_at > $1) GROUP BY {key} ORDER BY {key}",
        running = sum(clipped, "running") + " AS running_ms",
        paused = sum(clipped, "paused") + " AS paused_ms",
        vcpu = sum(&format!("vcpus * {clipped}"), "running") + " AS vcpu_ms",
        memory = sum(&format!("memory_mb * {clipped}"), "running") + " AS memory_ms",
        storage = sum(&format!("storage_mb * {clipped}"), "paused") + " AS storage_ms",
    );
    let mut query = sqlx::query(&sql).bind(start).bind(end).bind(now);
    if let Some(team) = team_id {
        query = query.bind(team);
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("k")?,
                r.try_get("t")?,
                r.try_get("running_ms")?,
                r.try_get("paused_ms")?,
                r.try_get("vcpu_ms")?,
                r.try_get("memory_ms")?,
                r.try_get("storage_ms")?,
                r.try_get("cpu_ms")?,
            ))
        })
        .collect()
}

/// The SQL sum of the guest CPU of running intervals in proportion to the
/// `part` of their `whole` duration that is counted (all of it when both
/// agree), rounded to the millisecond; computed in floating point so that
/// large products cannot overflow.
fn cpu_share(part: &str, whole: &str) -> String {
    format!(
        "CAST(COALESCE(SUM(CASE WHEN phase = 'running' AND cpu_ms IS NOT NULL AND {whole} > 0 \
         THEN ROUND(cpu_ms * 1.0 * {part} / {whole}) ELSE 0 END), 0) AS BIGINT)"
    )
}

/// Per bucket (its start, Unix ms): the sums of the intervals that lie
/// wholly inside one bucket of `bucket` ms and inside `[start, end)`,
/// summed by the database (`(key, "", running_ms, ...)` as [`Sums`]).
/// [`crossing`] reads the others.
pub async fn bucket_sums(
    db: &Db,
    team_id: Option<&str>,
    bucket: i64,
    start: i64,
    end: i64,
    now: i64,
) -> Result<Vec<(i64, Sums)>, sqlx::Error> {
    let d = "(COALESCE(ended_at, $3) - started_at)";
    let sum = |what: &str, phase: &str| {
        format!(
            "CAST(COALESCE(SUM(CASE WHEN phase = '{phase}' THEN {what} ELSE 0 END), 0) AS BIGINT)"
        )
    };
    let team_filter = if team_id.is_some() {
        "team_id = $5"
    } else {
        "$5 = ''"
    };
    let sql = format!(
        "SELECT started_at - (started_at % $4) AS k, {running} AS running_ms, {paused} AS paused_ms, \
         {vcpu} AS vcpu_ms, {memory} AS memory_ms, {storage} AS storage_ms, {cpu} AS cpu_ms \
         FROM usage_intervals WHERE {team_filter} AND {WITHIN} GROUP BY started_at - (started_at % $4)",
        running = sum(d, "running"),
        paused = sum(d, "paused"),
        vcpu = sum(&format!("vcpus * {d}"), "running"),
        memory = sum(&format!("memory_mb * {d}"), "running"),
        storage = sum(&format!("storage_mb * {d}"), "paused"),
        cpu = cpu_share(d, d),
    );
    let rows = sqlx::query(&sql)
        .bind(start)
        .bind(end)
        .bind(now)
        .bind(bucket)
        .bind(team_id.unwrap_or(""))
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let key: i64 = r.try_get("k")?;
            Ok((
                key,
                (
                    String::new(),
                    String::new(),
                    r.try_get("running_ms")?,
                    r.try_get("paused_ms")?,
                    r.try_get("vcpu_ms")?,
                    r.try_get("memory_ms")?,
                    r.try_get("storage_ms")?,
                    r.try_get("cpu_ms")?,
                ),
            ))
        })
        .collect()
}

/// An interval wholly inside `[$1, $2)` and inside one bucket of `$4` ms
/// (open ones end at `$3`).
const WITHIN: &str = "started_at >= $1 AND COALESCE(ended_at, $3) <= $2 \
    AND COALESCE(ended_at, $3) > started_at \
    AND started_at / $4 = (COALESCE(ended_at, $3) - 1) / $4";

/// The intervals overlapping `[start, end)` that [`bucket_sums`] does not
/// sum (they cross a bucket's edge or the range's), a page at a time.
pub async fn crossing(
    db: &Db,
    team_id: Option<&str>,
    bucket: i64,
    (start, end, now): (i64, i64, i64),
    after: Option<(i64, String)>,
) -> Result<(Vec<IntervalRow>, Option<(i64, String)>), sqlx::Error> {
    let (after_at, after_id) = after.unwrap_or((i64::MIN, String::new()));
    let team_filter = if team_id.is_some() {
        "team_id = $5"
    } else {
        "$5 = ''"
    };
    let limit = 20_000_i64;
    let rows = sqlx::query(&format!(
        "SELECT id, {COLUMNS} FROM usage_intervals WHERE {team_filter} \
         AND started_at < $2 AND (ended_at IS NULL OR ended_at > $1) AND NOT ({WITHIN}) \
         AND (started_at, id) > ($6, $7) ORDER BY started_at, id LIMIT $8"
    ))
    .bind(start)
    .bind(end)
    .bind(now)
    .bind(bucket)
    .bind(team_id.unwrap_or(""))
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let next = match rows.last() {
        Some(last) if i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit => {
            Some((last.try_get("started_at")?, last.try_get("id")?))
        }
        _ => None,
    };
    let intervals = rows.iter().map(interval).collect::<Result<_, _>>()?;
    Ok((intervals, next))
}
