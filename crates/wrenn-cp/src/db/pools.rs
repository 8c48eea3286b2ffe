//! What each team's sandboxes hold of its pool (`pool_use`, one row per
//! team, and `pool_reservations`, one per sandbox): queries only.
//!
//! Every change starts by writing the team's `pool_use` row, which is the
//! lock: PostgreSQL serialises writers of one row (and re-checks a
//! conditional UPDATE's `WHERE` against the row a concurrent writer left),
//! SQLite has one writer. A reservation is then one conditional UPDATE
//! that cannot overshoot, on any number of replicas.
use sqlx::Row;

use super::{now_ms, sandbox_row::SandboxRow, Db};
use crate::lifecycle::SandboxState;

/// "No limit" as a bound.
pub const UNLIMITED: i64 = i64::MAX / 4;

/// Storage counted for a sandbox whose disk has no recorded size (MiB).
pub const UNSIZED_DISK_MB: i64 = 1024;

/// The share of the pool one sandbox holds in each phase of its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// vCPUs, memory, storage and a running slot.
    Running,
    /// Storage and a paused slot.
    Paused,
    /// A pause on its way: what `Running` holds plus the paused slot it
    /// reserved before its host was called.
    Pausing,
    /// Storage only: its host is gone.
    Lost,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Pausing => "pausing",
            Self::Lost => "lost",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(Self::Running),
            "paused" => Some(Self::Paused),
            "pausing" => Some(Self::Pausing),
            "lost" => Some(Self::Lost),
            _ => None,
        }
    }
}

/// The phase a sandbox's reservation takes when it enters `state`:
/// `Some(None)` frees it, `None` leaves it as it is (a create or resume
/// reserved before its host was called).
pub fn phase_of(state: SandboxState) -> Option<Option<Phase>> {
    match state {
        SandboxState::Pending | SandboxState::Starting => None,
        SandboxState::Running => Some(Some(Phase::Running)),
        SandboxState::Paused => Some(Some(Phase::Paused)),
        SandboxState::Lost => Some(Some(Phase::Lost)),
        SandboxState::Stopped | SandboxState::Error => Some(None),
    }
}

/// Amounts of each pool dimension (used, asked, limits or a delta).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub storage_mb: i64,
    pub running: i64,
    pub paused: i64,
}

impl Amounts {
    pub const UNLIMITED: Self = Self {
        vcpus: UNLIMITED,
        memory_mb: UNLIMITED,
        storage_mb: UNLIMITED,
        running: UNLIMITED,
        paused: UNLIMITED,
    };

    /// Whether any dimension goes down (a delta that releases).
    pub fn shrinks(self) -> bool {
        [
            self.vcpus,
            self.memory_mb,
            self.storage_mb,
            self.running,
            self.paused,
        ]
        .iter()
        .any(|d| *d < 0)
    }

    pub fn minus(self, other: Self) -> Self {
        Self {
            vcpus: self.vcpus - other.vcpus,
            memory_mb: self.memory_mb - other.memory_mb,
            storage_mb: self.storage_mb - other.storage_mb,
            running: self.running - other.running,
            paused: self.paused - other.paused,
        }
    }

    pub fn plus(self, other: Self) -> Self {
        self.minus(Self::default().minus(other))
    }
}

/// A sandbox's shape as the pool counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub vcpus: i64,
    pub memory_mb: i64,
    pub storage_mb: i64,
}

impl Shape {
    pub fn of(sandbox: &SandboxRow) -> Self {
        Self {
            vcpus: sandbox.vcpus,
            memory_mb: sandbox.memory_mb,
            storage_mb: sandbox.disk_mb.unwrap_or(UNSIZED_DISK_MB),
        }
    }

    /// What the sandbox holds in `phase` (`None`: nothing).
    pub fn held(self, phase: Option<Phase>) -> Amounts {
        match phase {
            None => Amounts::default(),
            Some(Phase::Running) => Amounts {
                vcpus: self.vcpus,
                memory_mb: self.memory_mb,
                storage_mb: self.storage_mb,
                running: 1,
                paused: 0,
            },
            Some(Phase::Pausing) => Amounts {
                paused: 1,
                ..self.held(Some(Phase::Running))
            },
            Some(Phase::Paused) => Amounts {
                storage_mb: self.storage_mb,
                paused: 1,
                ..Amounts::default()
            },
            Some(Phase::Lost) => Amounts {
                storage_mb: self.storage_mb,
                ..Amounts::default()
            },
        }
    }
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Takes the team's pool lock (creating its row): the first write of
/// every transaction that changes the pool.
pub(super) async fn lock(tx: &mut Tx<'_>, team_id: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let touched = sqlx::query("UPDATE pool_use SET updated_at = $2 WHERE team_id = $1")
        .bind(team_id)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if touched == 0 {
        sqlx::query(
            "INSERT INTO pool_use (team_id, updated_at) VALUES ($1, $2) ON CONFLICT (team_id) DO NOTHING",
        )
        .bind(team_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        // A concurrent first insert may have won; either way the row now
        // exists and this locks it.
        sqlx::query("UPDATE pool_use SET updated_at = $2 WHERE team_id = $1")
            .bind(team_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Adds `delta` to the team's use: unconditionally with `limits` `None`,
/// else only if every dimension that grows stays within its limit.
pub(super) async fn apply(
    tx: &mut Tx<'_>,
    team_id: &str,
    delta: Amounts,
    limits: Option<&Amounts>,
) -> Result<bool, sqlx::Error> {
    let limits = limits.copied().unwrap_or(Amounts::UNLIMITED);
    let changed = sqlx::query(
        "UPDATE pool_use SET vcpus = vcpus + $2, memory_mb = memory_mb + $3, \
         storage_mb = storage_mb + $4, running = running + $5, paused = paused + $6 \
         WHERE team_id = $1 AND ($2 <= 0 OR vcpus + $2 <= $7) AND ($3 <= 0 OR memory_mb + $3 <= $8) \
         AND ($4 <= 0 OR storage_mb + $4 <= $9) AND ($5 <= 0 OR running + $5 <= $10) \
         AND ($6 <= 0 OR paused + $6 <= $11)",
    )
    .bind(team_id)
    .bind(delta.vcpus)
    .bind(delta.memory_mb)
    .bind(delta.storage_mb)
    .bind(delta.running)
    .bind(delta.paused)
    .bind(limits.vcpus)
    .bind(limits.memory_mb)
    .bind(limits.storage_mb)
    .bind(limits.running)
    .bind(limits.paused)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// The sandbox's reservation: its phase and shape.
async fn reservation(tx: &mut Tx<'_>, id: &str) -> Result<Option<(Phase, Shape)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT phase, vcpus, memory_mb, storage_mb FROM pool_reservations WHERE sandbox_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        let phase: String = r.try_get("phase")?;
        let phase = Phase::parse(&phase)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown pool phase '{phase}'").into()))?;
        let shape = Shape {
            vcpus: r.try_get("vcpus")?,
            memory_mb: r.try_get("memory_mb")?,
            storage_mb: r.try_get("storage_mb")?,
        };
        Ok((phase, shape))
    })
    .transpose()
}

pub(super) async fn write_reservation(
    tx: &mut Tx<'_>,
    id: &str,
    team_id: &str,
    shape: Shape,
    phase: Option<Phase>,
) -> Result<(), sqlx::Error> {
    let Some(phase) = phase else {
        sqlx::query("DELETE FROM pool_reservations WHERE sandbox_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO pool_reservations (sandbox_id, team_id, vcpus, memory_mb, storage_mb, phase, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sandbox_id) DO UPDATE SET phase = excluded.phase",
    )
    .bind(id)
    .bind(team_id)
    .bind(shape.vcpus)
    .bind(shape.memory_mb)
    .bind(shape.storage_mb)
    .bind(phase.as_str())
    .bind(now_ms())
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Grows the team's use by `need` within `limits` inside `tx`, locking
/// its `pool_use` row: one conditional UPDATE when the row exists (it
/// locks the row as [`lock`] would, and a concurrent one re-checks its
/// condition after this commits), else the row is made first.
/// `Ok(false)`: it does not fit, nothing changed.
pub(super) async fn reserve_in(
    tx: &mut Tx<'_>,
    team_id: &str,
    need: Amounts,
    limits: &Amounts,
) -> Result<bool, sqlx::Error> {
    if apply(tx, team_id, need, Some(limits)).await? {
        return Ok(true);
    }
    // No row yet, or no room: make sure of the row and try once more.
    lock(tx, team_id).await?;
    apply(tx, team_id, need, Some(limits)).await
}

/// Moves the sandbox's reservation to `phase` inside `tx`: checked
/// against `limits` when given (`Ok(false)`: it does not fit, nothing
/// changed), else unconditional (releases, and transitions the host
/// reported, which cannot be refused).
pub async fn move_in(
    tx: &mut Tx<'_>,
    sandbox: &SandboxRow,
    phase: Option<Phase>,
    limits: Option<&Amounts>,
) -> Result<bool, sqlx::Error> {
    lock(tx, &sandbox.team_id).await?;
    let current = reservation(tx, &sandbox.id).await?;
    let (from, shape) = match current {
        Some((from, shape)) => (Some(from), shape),
        None => (None, Shape::of(sandbox)),
    };
    if from == phase {
        return Ok(true);
    }
    let delta = shape.held(phase).minus(shape.held(from));
    if !apply(tx, &sandbox.team_id, delta, limits).await? {
        return Ok(false);
    }
    if delta.shrinks() {
        super::webhooks::rearm_in(tx, &sandbox.team_id).await?;
    }
    write_reservation(tx, &sandbox.id, &sandbox.team_id, shape, phase).await?;
    Ok(true)
}

/// [`move_in`] in a transaction of its own.
pub async fn move_to(
    db: &Db,
    sandbox: &SandboxRow,
    phase: Option<Phase>,
    limits: Option<&Amounts>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    if !move_in(&mut tx, sandbox, phase, limits).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// What the team's sandboxes hold now.
pub async fn used(db: &Db, team_id: &str) -> Result<Amounts, sqlx::Error> {
    let row = sqlx::query(
        "SELECT vcpus, memory_mb, storage_mb, running, paused FROM pool_use WHERE team_id = $1",
    )
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else {
        return Ok(Amounts::default());
    };
    Ok(Amounts {
        vcpus: r.try_get("vcpus")?,
        memory_mb: r.try_get("memory_mb")?,
        storage_mb: r.try_get("storage_mb")?,
        running: r.try_get("running")?,
        paused: r.try_get("paused")?,
    })
}

/// The sum of the team's reservations (a check of `pool_use`).
pub async fn summed(db: &Db, team_id: &str) -> Result<Amounts, sqlx::Error> {
    let r = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN phase IN ('running', 'pausing') THEN vcpus ELSE 0 END), 0) AS BIGINT) AS vcpus, \
         CAST(COALESCE(SUM(CASE WHEN phase IN ('running', 'pausing') THEN memory_mb ELSE 0 END), 0) AS BIGINT) AS memory_mb, \
         CAST(COALESCE(SUM(storage_mb), 0) AS BIGINT) AS storage_mb, \
         CAST(COALESCE(SUM(CASE WHEN phase IN ('running', 'pausing') THEN 1 ELSE 0 END), 0) AS BIGINT) AS running, \
         CAST(COALESCE(SUM(CASE WHEN phase IN ('paused', 'pausing') THEN 1 ELSE 0 END), 0) AS BIGINT) AS paused \
         FROM pool_reservations WHERE team_id = $1",
    )
    .bind(team_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(Amounts {
        vcpus: r.try_get("vcpus")?,
        memory_mb: r.try_get("memory_mb")?,
        storage_mb: r.try_get("storage_mb")?,
        running: r.try_get("running")?,
        paused: r.try_get("paused")?,
    })
}

/// Enters a waiter of the team's queue; answers its id (ids sort by age).
pub async fn enter_queue(db: &Db, team_id: &str, deadline: i64) -> Result<String, sqlx::Error> {
    let id = super::new_ordered_id("pqw_");
    sqlx::query(
        "INSERT INTO pool_waiters (id, team_id, deadline, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(team_id)
    .bind(deadline)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(id)
}

/// Whether the waiter is its team's oldest one still waiting.
pub async fn first_in_queue(db: &Db, team_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let first: Option<String> = sqlx::query_scalar(
        "SELECT id FROM pool_waiters WHERE team_id = $1 AND deadline > $2 ORDER BY id LIMIT 1",
    )
    .bind(team_id)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(first.as_deref() == Some(id))
}

pub async fn leave_queue(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pool_waiters WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Waiters of the team still in the queue (a check for tests and views).
pub async fn waiting(db: &Db, team_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM pool_waiters WHERE team_id = $1")
        .bind(team_id)
        .fetch_one(&db.pool)
        .await
}
