//! Host records: shared hosts and teams' bring-your-own-cloud hosts, their
//! one-time registration tokens, heartbeats and tags (docs/hosts.md). The
//! agent named by `CP_AGENT_URL`, if any, is recorded as the static shared
//! host `local`: it never registers or heartbeats, so the monitor skips it.
use std::collections::HashMap;

use sqlx::{any::AnyRow, Row};

use wrenn_types::host_wire::WarmPoolLoad;

use super::{get_bool, now_ms, Db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    Pending,
    Online,
    Unreachable,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Online => "online",
            Self::Unreachable => "unreachable",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "online" => Self::Online,
            "unreachable" => Self::Unreachable,
            _ => Self::Pending,
        }
    }
}

/// What an agent reports about its machine at registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSpecs {
    pub arch: String,
    pub cpus: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    pub backend: String,
    pub accelerator: String,
    pub agent_version: String,
}

/// Free capacity and load, as of a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostLoad {
    pub free_vcpus: i64,
    pub free_memory_mb: i64,
    pub free_disk_mb: i64,
    pub sandboxes_running: i64,
    pub sandboxes_paused: i64,
    /// The agent's warm pools (empty for agents that do not report them).
    pub warm_pools: Vec<WarmPoolLoad>,
}

/// `warm_pools` as stored: a JSON array; what cannot be read is no pool.
fn parse_warm_pools(text: &str) -> Vec<WarmPoolLoad> {
    serde_json::from_str(text).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub id: String,
    pub name: String,
    /// `None`: a shared host; otherwise the one team a BYOC host serves.
    pub team_id: Option<String>,
    pub address: String,
    pub status: HostStatus,
    pub status_reason: String,
    pub draining: bool,
    pub specs: HostSpecs,
    /// `None` until the first heartbeat.
    pub load: Option<HostLoad>,
    pub clock_skew_ms: i64,
    pub tls_fingerprint: Option<String>,
    pub token_hash: Option<String>,
    pub token_expires_at: Option<i64>,
    pub registered_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl HostRow {
    /// Registered through a token (as opposed to the static `local` host).
    pub fn is_registered(&self) -> bool {
        self.registered_at.is_some()
    }
}

const COLUMNS: &str = "id, name, team_id, address, status, status_reason, draining, arch, cpus, \
    memory_mb, disk_mb, backend, accelerator, agent_version, free_vcpus, free_memory_mb, \
    free_disk_mb, sandboxes_running, sandboxes_paused, warm_pools, clock_skew_ms, tls_fingerprint, \
    token_hash, token_expires_at, registered_at, last_heartbeat_at, created_by, created_at, \
    updated_at";

fn row(row: &AnyRow) -> Result<HostRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let free_vcpus: Option<i64> = row.try_get("free_vcpus")?;
    let load = match free_vcpus {
        Some(free_vcpus) => Some(HostLoad {
            free_vcpus,
            free_memory_mb: row
                .try_get::<Option<i64>, _>("free_memory_mb")?
                .unwrap_or(0),
            free_disk_mb: row.try_get::<Option<i64>, _>("free_disk_mb")?.unwrap_or(0),
            sandboxes_running: row.try_get("sandboxes_running")?,
            sandboxes_paused: row.try_get("sandboxes_paused")?,
            warm_pools: parse_warm_pools(&row.try_get::<String, _>("warm_pools")?),
        }),
        None => None,
    };
    Ok(HostRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        team_id: row.try_get("team_id")?,
        address: row.try_get("address")?,
        status: HostStatus::parse(&status),
        status_reason: row.try_get("status_reason")?,
        draining: get_bool(row, "draining")?,
        specs: HostSpecs {
            arch: row.try_get("arch")?,
            cpus: row.try_get("cpus")?,
            memory_mb: row.try_get("memory_mb")?,
            disk_mb: row.try_get("disk_mb")?,
            backend: row.try_get("backend")?,
            accelerator: row.try_get("accelerator")?,
            agent_version: row.try_get("agent_version")?,
        },
        load,
        clock_skew_ms: row.try_get("clock_skew_ms")?,
        tls_fingerprint: row.try_get("tls_fingerprint")?,
        token_hash: row.try_get("token_hash")?,
        token_expires_at: row.try_get("token_expires_at")?,
        registered_at: row.try_get("registered_at")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A host record an operator asked for, before any agent registered.
#[derive(Debug, Clone)]
pub struct NewHost<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub team_id: Option<&'a str>,
    pub tls_fingerprint: Option<&'a str>,
    pub created_by: &'a str,
    pub token_hash: &'a str,
    pub token_expires_at: i64,
}

/// Inserts a pending host with its first registration token and its tags.
pub async fn insert_pending(
    db: &Db,
    host: &NewHost<'_>,
    tags: &[String],
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO hosts (id, name, team_id, address, status, tls_fingerprint, created_by, \
         token_hash, token_expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, '', 'pending', $4, $5, $6, $7, $8, $8)",
    )
    .bind(host.id)
    .bind(host.name)
    .bind(host.team_id)
    .bind(host.tls_fingerprint)
    .bind(host.created_by)
    .bind(host.token_hash)
    .bind(host.token_expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for tag in tags {
        sqlx::query("INSERT INTO host_tags (host_id, tag) VALUES ($1, $2)")
            .bind(host.id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Creates or updates the static `local` host's record (`CP_AGENT_URL`).
pub async fn upsert_local(db: &Db, id: &str, address: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE hosts SET address = $1, status = 'online', updated_at = $2 WHERE id = $3",
    )
    .bind(address)
    .bind(now)
    .bind(id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO hosts (id, name, team_id, address, status, created_at, updated_at) \
             VALUES ($1, $1, NULL, $2, 'online', $3, $3)",
        )
        .bind(id)
        .bind(address)
        .bind(now)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<HostRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM hosts WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

/// Which hosts a caller may see.
#[derive(Debug, Clone, Copy)]
pub enum Visibility<'a> {
    /// Platform admins: every host.
    All,
    /// Everyone else: their team's BYOC hosts.
    Team(&'a str),
}

pub async fn list(db: &Db, visibility: Visibility<'_>) -> Result<Vec<HostRow>, sqlx::Error> {
    let rows = match visibility {
        Visibility::All => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM hosts ORDER BY created_at, id"
            ))
            .fetch_all(&db.pool)
            .await?
        }
        Visibility::Team(team_id) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM hosts WHERE team_id = $1 ORDER BY created_at, id"
            ))
            .bind(team_id)
            .fetch_all(&db.pool)
            .await?
        }
    };
    rows.iter().map(row).collect()
}

/// Registered hosts, to connect to at start-up.
pub async fn registered(db: &Db) -> Result<Vec<HostRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM hosts WHERE registered_at IS NOT NULL"
    ))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

pub async fn find_by_token_hash(db: &Db, hash: &str) -> Result<Option<HostRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM hosts WHERE token_hash = $1"
    ))
    .bind(hash)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// Replaces a pending host's token; `false` if the host is not pending.
pub async fn replace_token(
    db: &Db,
    id: &str,
    hash: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE hosts SET token_hash = $1, token_expires_at = $2, updated_at = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(hash)
    .bind(expires_at)
    .bind(now_ms())
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Consumes a registration token: the host goes `online` with the agent's
/// address and specs. Guarded on `pending` + the token, so of two agents
/// racing with one token exactly one gets `true`.
pub async fn register(
    db: &Db,
    id: &str,
    token_hash: &str,
    address: &str,
    specs: &HostSpecs,
    tls_fingerprint: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE hosts SET status = 'online', status_reason = '', address = $1, arch = $2, \
         cpus = $3, memory_mb = $4, disk_mb = $5, backend = $6, accelerator = $7, \
         agent_version = $8, registered_at = $9, last_heartbeat_at = $9, updated_at = $9, \
         tls_fingerprint = $12 \
         WHERE id = $10 AND status = 'pending' AND token_hash = $11 AND token_expires_at > $9",
    )
    .bind(address)
    .bind(&specs.arch)
    .bind(specs.cpus)
    .bind(specs.memory_mb)
    .bind(specs.disk_mb)
    .bind(&specs.backend)
    .bind(&specs.accelerator)
    .bind(&specs.agent_version)
    .bind(now)
    .bind(id)
    .bind(token_hash)
    .bind(tls_fingerprint)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a heartbeat; returns the status the host had before (`None`: no
/// such registered host). An unreachable host comes back `online`.
pub async fn heartbeat(
    db: &Db,
    id: &str,
    load: &HostLoad,
    clock_skew_ms: i64,
) -> Result<Option<HostStatus>, sqlx::Error> {
    let Some(host) = get(db, id).await? else {
        return Ok(None);
    };
    if !host.is_registered() {
        return Ok(None);
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE hosts SET status = 'online', status_reason = '', last_heartbeat_at = $1, \
         free_vcpus = $2, free_memory_mb = $3, free_disk_mb = $4, sandboxes_running = $5, \
         sandboxes_paused = $6, clock_skew_ms = $7, warm_pools = $8, updated_at = $1 \
         WHERE id = $9",
    )
    .bind(now)
    .bind(load.free_vcpus)
    .bind(load.free_memory_mb)
    .bind(load.free_disk_mb)
    .bind(load.sandboxes_running)
    .bind(load.sandboxes_paused)
    .bind(clock_skew_ms)
    .bind(serde_json::to_string(&load.warm_pools).unwrap_or_else(|_| "[]".into()))
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(Some(host.status))
}

/// Marks `online` registered hosts silent since before `cutoff` as
/// `unreachable`; returns those this call changed.
pub async fn mark_silent_unreachable(
    db: &Db,
    cutoff: i64,
    reason: &str,
) -> Result<Vec<HostRow>, sqlx::Error> {
    let silent = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM hosts WHERE status = 'online' AND registered_at IS NOT NULL \
         AND last_heartbeat_at < $1"
    ))
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await?;
    let mut changed = Vec::new();
    for host in silent.iter().map(row) {
        let host = host?;
        // Guarded: a heartbeat that arrived meanwhile wins.
        let done = sqlx::query(
            "UPDATE hosts SET status = 'unreachable', status_reason = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'online' AND last_heartbeat_at < $4",
        )
        .bind(reason)
        .bind(now_ms())
        .bind(&host.id)
        .bind(cutoff)
        .execute(&db.pool)
        .await?;
        if done.rows_affected() == 1 {
            changed.push(host);
        }
    }
    Ok(changed)
}

pub async fn set_draining(db: &Db, id: &str, draining: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE hosts SET draining = $1, updated_at = $2 WHERE id = $3")
        .bind(super::flag(draining))
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM hosts WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

pub async fn tags(db: &Db, id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT tag FROM host_tags WHERE host_id = $1 ORDER BY tag")
        .bind(id)
        .fetch_all(&db.pool)
        .await
}

/// Every host's tags, for listings and the scheduler.
pub async fn all_tags(db: &Db) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let rows = sqlx::query("SELECT host_id, tag FROM host_tags ORDER BY host_id, tag")
        .fetch_all(&db.pool)
        .await?;
    let mut tags: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows {
        tags.entry(r.try_get("host_id")?)
            .or_default()
            .push(r.try_get("tag")?);
    }
    Ok(tags)
}

/// Adds tags (present ones are kept).
pub async fn add_tags(db: &Db, id: &str, new: &[String]) -> Result<(), sqlx::Error> {
    let present = tags(db, id).await?;
    for tag in new.iter().filter(|t| !present.contains(t)) {
        let inserted = sqlx::query("INSERT INTO host_tags (host_id, tag) VALUES ($1, $2)")
            .bind(id)
            .bind(tag)
            .execute(&db.pool)
            .await;
        match inserted {
            Err(err) if !super::is_unique_violation(&err) => return Err(err),
            _ => {}
        }
    }
    Ok(())
}

/// Removes a tag; `false` if the host did not have it.
pub async fn remove_tag(db: &Db, id: &str, tag: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM host_tags WHERE host_id = $1 AND tag = $2")
        .bind(id)
        .bind(tag)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What the scheduler needs to know about one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub team_id: Option<String>,
    pub draining: bool,
    pub online: bool,
    pub specs: HostSpecs,
    pub free_disk_mb: Option<i64>,
    /// vCPUs and memory of the sandboxes placed on it and not paused or gone.
    pub used_vcpus: i64,
    pub used_memory_mb: i64,
    pub live_sandboxes: i64,
    pub tags: Vec<String>,
    /// Its warm pools as of the last heartbeat.
    pub warm_pools: Vec<WarmPoolLoad>,
}

/// Every host a sandbox of `team_id` may be placed on (shared hosts and the
/// team's own), with its current reservations.
pub async fn candidates(db: &Db, team_id: &str) -> Result<Vec<Candidate>, sqlx::Error> {
    let hosts = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM hosts WHERE team_id IS NULL OR team_id = $1 ORDER BY id"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    let usage_rows = sqlx::query(
        "SELECT host_id, CAST(SUM(vcpus) AS BIGINT) AS vcpus, \
         CAST(SUM(memory_mb) AS BIGINT) AS memory_mb, COUNT(*) AS n \
         FROM sandboxes WHERE host_id IS NOT NULL AND state IN ('pending', 'starting', 'running') \
         GROUP BY host_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut usage: HashMap<String, (i64, i64, i64)> = HashMap::new();
    for r in usage_rows {
        // SUM is NUMERIC on PostgreSQL, which the Any driver cannot
        // decode; hence the casts.
        usage.insert(
            r.try_get("host_id")?,
            (
                r.try_get("vcpus")?,
                r.try_get("memory_mb")?,
                r.try_get("n")?,
            ),
        );
    }
    let mut tags = all_tags(db).await?;
    hosts
        .iter()
        .map(|r| {
            let host = row(r)?;
            let (used_vcpus, used_memory_mb, live_sandboxes) =
                usage.get(&host.id).copied().unwrap_or_default();
            Ok(Candidate {
                tags: tags.remove(&host.id).unwrap_or_default(),
                team_id: host.team_id,
                draining: host.draining,
                online: host.status == HostStatus::Online,
                free_disk_mb: host.load.as_ref().map(|l| l.free_disk_mb),
                warm_pools: host.load.map(|l| l.warm_pools).unwrap_or_default(),
                specs: host.specs,
                used_vcpus,
                used_memory_mb,
                live_sandboxes,
                id: host.id,
            })
        })
        .collect()
}
