//! Template build records and their log lines (migration 0012). One
//! replica runs a build: it claims the row with a guarded UPDATE and holds
//! a lease it renews; every later write is guarded by that lease, and a
//! lease left to expire is ended `failed` by whichever replica sees it.
use sqlx::{any::AnyRow, Row};

use super::{get_bool, now_ms, Db};

/// A build's status, stored as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    Queued,
    Building,
    Succeeded,
    Failed,
    Cancelled,
}

impl BuildStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Queued => "queued",
            BuildStatus::Building => "building",
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
            BuildStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<BuildStatus> {
        [
            BuildStatus::Queued,
            BuildStatus::Building,
            BuildStatus::Succeeded,
            BuildStatus::Failed,
            BuildStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    /// Whether the build has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, BuildStatus::Queued | BuildStatus::Building)
    }
}

/// A build as submitted.
#[derive(Debug, Clone)]
pub struct NewBuild {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub tag: String,
    pub dockerfile: String,
    /// JSON object.
    pub build_args: String,
    pub ready_command: Option<String>,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub context_sha256: Option<String>,
    pub context_bytes: i64,
    pub steps_total: i64,
    pub created_by: Option<String>,
}

/// Why a build failed, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildError {
    pub code: String,
    pub message: String,
    pub line: Option<i64>,
    pub exit_code: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRow {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub tag: String,
    pub status: BuildStatus,
    pub steps_total: i64,
    pub steps_done: i64,
    pub steps_cached: i64,
    pub current_step: i64,
    pub current_step_text: Option<String>,
    pub error: Option<BuildError>,
    pub template_id: Option<String>,
    pub sandbox_id: Option<String>,
    pub lease_owner: Option<String>,
    pub cancel_requested: bool,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, team_id, name, tag, status, steps_total, steps_done, steps_cached, \
     current_step, current_step_text, error_code, error_message, error_line, error_exit_code, \
     template_id, sandbox_id, lease_owner, cancel_requested, created_at, started_at, finished_at";

fn row(row: &AnyRow) -> Result<BuildRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let error_code: Option<String> = row.try_get("error_code")?;
    Ok(BuildRow {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        name: row.try_get("name")?,
        tag: row.try_get("tag")?,
        status: BuildStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("build status '{status}'").into()))?,
        steps_total: row.try_get("steps_total")?,
        steps_done: row.try_get("steps_done")?,
        steps_cached: row.try_get("steps_cached")?,
        current_step: row.try_get("current_step")?,
        current_step_text: row.try_get("current_step_text")?,
        error: match error_code {
            Some(code) => Some(BuildError {
                code,
                message: row
                    .try_get::<Option<String>, _>("error_message")?
                    .unwrap_or_default(),
                line: row.try_get("error_line")?,
                exit_code: row.try_get("error_exit_code")?,
            }),
            None => None,
        },
        template_id: row.try_get("template_id")?,
        sandbox_id: row.try_get("sandbox_id")?,
        lease_owner: row.try_get("lease_owner")?,
        cancel_requested: get_bool(row, "cancel_requested")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

pub async fn insert(db: &Db, build: &NewBuild) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO template_builds (id, team_id, name, tag, status, dockerfile, build_args, \
         ready_command, vcpus, memory_mb, context_sha256, context_bytes, steps_total, \
         created_by, created_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&build.id)
    .bind(&build.team_id)
    .bind(&build.name)
    .bind(&build.tag)
    .bind(&build.dockerfile)
    .bind(&build.build_args)
    .bind(&build.ready_command)
    .bind(build.vcpus)
    .bind(build.memory_mb)
    .bind(&build.context_sha256)
    .bind(build.context_bytes)
    .bind(build.steps_total)
    .bind(&build.created_by)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One of the team's builds.
pub async fn get(db: &Db, team_id: &str, id: &str) -> Result<Option<BuildRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM template_builds WHERE id = $1 AND team_id = $2"
    ))
    .bind(id)
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// The team's builds, newest first.
pub async fn list(db: &Db, team_id: &str, limit: i64) -> Result<Vec<BuildRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM template_builds WHERE team_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(team_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(row)
    .collect()
}

/// The team's builds not yet ended (the concurrency cap counts them).
pub async fn count_active(db: &Db, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM template_builds WHERE team_id = $1 \
         AND status IN ('queued', 'building')",
    )
    .bind(team_id)
    .fetch_one(&db.pool)
    .await
}

/// Takes a queued build for `owner` until `lease_until` (ms); `false`
/// when another replica took it first or it was cancelled.
pub async fn claim(db: &Db, id: &str, owner: &str, lease_until: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE template_builds SET status = 'building', lease_owner = $2, \
         lease_expires_at = $3, started_at = $4 WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .bind(owner)
    .bind(lease_until)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Held,
    /// Held, and the user asked to cancel.
    CancelRequested,
    /// No longer this replica's (expired and ended by another).
    Lost,
}

/// Extends `owner`'s lease; says whether a cancel was asked for.
pub async fn renew(
    db: &Db,
    id: &str,
    owner: &str,
    lease_until: i64,
) -> Result<Renewal, sqlx::Error> {
    let cancel: Option<i64> = sqlx::query_scalar(
        "UPDATE template_builds SET lease_expires_at = $3 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'building' RETURNING cancel_requested",
    )
    .bind(id)
    .bind(owner)
    .bind(lease_until)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match cancel {
        None => Renewal::Lost,
        Some(0) => Renewal::Held,
        Some(_) => Renewal::CancelRequested,
    })
}

/// The step now running, and how many are done (of which cached).
#[derive(Debug)]
pub struct Progress<'a> {
    pub current_step: i64,
    pub current_step_text: &'a str,
    pub steps_done: i64,
    pub steps_cached: i64,
    pub sandbox_id: Option<&'a str>,
    pub host_id: Option<&'a str>,
}

pub async fn progress(
    db: &Db,
    id: &str,
    owner: &str,
    p: &Progress<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE template_builds SET current_step = $3, current_step_text = $4, steps_done = $5, \
         steps_cached = $6, sandbox_id = $7, host_id = $8 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'building'",
    )
    .bind(id)
    .bind(owner)
    .bind(p.current_step)
    .bind(p.current_step_text)
    .bind(p.steps_done)
    .bind(p.steps_cached)
    .bind(p.sandbox_id)
    .bind(p.host_id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Asks a build to stop: a queued one ends `cancelled` at once, a running
/// one when its runner next renews. `false`: already ended (or not found).
pub async fn request_cancel(db: &Db, team_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let queued = sqlx::query(
        "UPDATE template_builds SET status = 'cancelled', cancel_requested = 1, finished_at = $3 \
         WHERE id = $1 AND team_id = $2 AND status = 'queued'",
    )
    .bind(id)
    .bind(team_id)
    .bind(now)
    .execute(&db.pool)
    .await?;
    if queued.rows_affected() == 1 {
        return Ok(true);
    }
    let running = sqlx::query(
        "UPDATE template_builds SET cancel_requested = 1 \
         WHERE id = $1 AND team_id = $2 AND status = 'building'",
    )
    .bind(id)
    .bind(team_id)
    .execute(&db.pool)
    .await?;
    Ok(running.rows_affected() == 1)
}

/// Ends `owner`'s build. `false`: the lease was lost first.
pub async fn finish(
    db: &Db,
    id: &str,
    owner: &str,
    status: BuildStatus,
    error: Option<&BuildError>,
    template_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE template_builds SET status = $3, error_code = $4, error_message = $5, \
         error_line = $6, error_exit_code = $7, template_id = $8, finished_at = $9, \
         sandbox_id = NULL, host_id = NULL \
         WHERE id = $1 AND lease_owner = $2 AND status = 'building'",
    )
    .bind(id)
    .bind(owner)
    .bind(status.as_str())
    .bind(error.map(|e| e.code.clone()))
    .bind(error.map(|e| e.message.clone()))
    .bind(error.and_then(|e| e.line))
    .bind(error.and_then(|e| e.exit_code))
    .bind(template_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A build whose replica stopped renewing: its build VM (if one was
/// recorded) must still be destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredBuild {
    pub id: String,
    pub sandbox_id: Option<String>,
    pub host_id: Option<String>,
}

/// Ends every build whose lease expired before `now` as `failed` with
/// code `build_lost`; returns them (each ended by this call only).
pub async fn expire_leases(db: &Db, now: i64) -> Result<Vec<ExpiredBuild>, sqlx::Error> {
    let candidates = sqlx::query(
        "SELECT id, sandbox_id, host_id FROM template_builds \
         WHERE status = 'building' AND lease_expires_at < $1",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    let mut ended = Vec::new();
    for candidate in &candidates {
        let build = ExpiredBuild {
            id: candidate.try_get("id")?,
            sandbox_id: candidate.try_get("sandbox_id")?,
            host_id: candidate.try_get("host_id")?,
        };
        let done = sqlx::query(
            "UPDATE template_builds SET status = 'failed', error_code = 'build_lost', \
             error_message = 'the control plane running the build stopped', finished_at = $2 \
             WHERE id = $1 AND status = 'building' AND lease_expires_at < $3",
        )
        .bind(&build.id)
        .bind(now_ms())
        .bind(now)
        .execute(&db.pool)
        .await?;
        if done.rows_affected() == 1 {
            ended.push(build);
        }
    }
    Ok(ended)
}

/// What the runner needs of a build beyond its view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInput {
    pub dockerfile: String,
    /// JSON object.
    pub build_args: String,
    pub ready_command: Option<String>,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub context_sha256: Option<String>,
}

pub async fn input(db: &Db, id: &str) -> Result<Option<BuildInput>, sqlx::Error> {
    sqlx::query(
        "SELECT dockerfile, build_args, ready_command, vcpus, memory_mb, context_sha256 \
         FROM template_builds WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| {
        Ok(BuildInput {
            dockerfile: r.try_get("dockerfile")?,
            build_args: r.try_get("build_args")?,
            ready_command: r.try_get("ready_command")?,
            vcpus: r.try_get("vcpus")?,
            memory_mb: r.try_get("memory_mb")?,
            context_sha256: r.try_get("context_sha256")?,
        })
    })
    .transpose()
}

/// The build VMs running builds keep on `host_id` (the reconciler must
/// not take them for orphans).
pub async fn sandboxes_on_host(db: &Db, host_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT sandbox_id FROM template_builds WHERE host_id = $1 AND status = 'building' \
         AND sandbox_id IS NOT NULL",
    )
    .bind(host_id)
    .fetch_all(&db.pool)
    .await
}

/// Ends a queued build that no runner will take (its context is gone).
pub async fn fail_queued(db: &Db, id: &str, error: &BuildError) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE template_builds SET status = 'failed', error_code = $2, error_message = $3, \
         finished_at = $4 WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .bind(&error.code)
    .bind(&error.message)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One line of a build's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub seq: i64,
    pub at: i64,
    pub step: i64,
    /// `stdout`, `stderr` or `system`.
    pub stream: String,
    pub text: String,
}

/// Appends lines (the runner numbers them: one runner per build).
pub async fn append_logs(db: &Db, build_id: &str, lines: &[LogLine]) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    for line in lines {
        sqlx::query(
            "INSERT INTO template_build_logs (build_id, seq, at, step, stream, text) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(build_id)
        .bind(line.seq)
        .bind(line.at)
        .bind(line.step)
        .bind(&line.stream)
        .bind(&line.text)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Lines from `offset` (a seq, 0-based), at most `limit`.
pub async fn logs(
    db: &Db,
    build_id: &str,
    offset: i64,
    limit: i64,
) -> Result<Vec<LogLine>, sqlx::Error> {
    sqlx::query(
        "SELECT seq, at, step, stream, text FROM template_build_logs \
         WHERE build_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
    )
    .bind(build_id)
    .bind(offset)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(LogLine {
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            step: r.try_get("step")?,
            stream: r.try_get("stream")?,
            text: r.try_get("text")?,
        })
    })
    .collect()
}

#[cfg(test)]
#[path = "template_builds_tests.rs"]
mod tests;
