//! A team's effective pool (its plan, overrides, the deployment's default)
//! and the reservations of create, fork and resume: one conditional write
//! each (`db::pools`), so concurrent requests on any number of replicas
//! can never overshoot the pool.
use crate::{
    config::CpConfig,
    db::{
        self,
        plans::{PlanRow, Sizes},
        pools::{Amounts, Phase, Shape},
        sandboxes::SandboxRow,
        Db,
    },
};

use super::MIB_PER_GIB;
use crate::service::notify;

/// The pool a team may use now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// `None`: no plan (no pool limit).
    pub plan: Option<PlanRow>,
    /// The plan's sizes with the team's overrides.
    pub sizes: Option<Sizes>,
    /// What reservations are checked against: the sizes, plus the burst
    /// ceiling with the `burst` overflow; unlimited without a plan.
    pub limits: Amounts,
}

/// A refusal for lack of room in the pool, naming the limit, what is used
/// and what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Exhausted {
    pub plan: String,
    /// `vcpus`, `memory`, `storage`, `running sandboxes`, `paused sandboxes`.
    pub dimension: &'static str,
    pub limit: i64,
    pub used: i64,
    pub asked: i64,
}

impl Exhausted {
    fn message(&self) -> String {
        let show = |v: i64| match self.dimension {
            "memory" | "storage" => format!("{} GiB", gib(v)),
            _ => v.to_string(),
        };
        let mut text = format!(
            "the team's pool is exhausted: {}: {} in use of {}, {} asked (plan '{}')",
            self.dimension,
            show(self.used),
            show(self.limit),
            show(self.asked),
            self.plan
        );
        if self.used > self.limit {
            text.push_str(
                "; the team uses more than its plan allows: new sandboxes are refused until its use fits",
            );
        }
        text
    }
}

fn gib(mib: i64) -> String {
    let whole = mib / MIB_PER_GIB;
    let rest = mib % MIB_PER_GIB;
    if rest == 0 {
        whole.to_string()
    } else {
        format!("{:.2}", mib as f64 / MIB_PER_GIB as f64)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// The team's plan and overrides (else the deployment's default plan).
pub async fn effective(db: &Db, config: &CpConfig, team_id: &str) -> Result<Pool, sqlx::Error> {
    // One round trip for a team on a plan; the default plan's by name.
    let (plan, overrides) = match db::plans::team_plan(db, team_id).await? {
        Some((plan, overrides)) => (Some(plan), overrides),
        None => match &config.default_plan {
            Some(name) => (db::plans::get(db, name).await?, Default::default()),
            None => (None, Default::default()),
        },
    };
    let Some(plan) = plan else {
        return Ok(Pool {
            plan: None,
            sizes: None,
            limits: Amounts::UNLIMITED,
        });
    };
    let s = plan.sizes;
    let sizes = Sizes {
        vcpus: overrides.vcpus.unwrap_or(s.vcpus),
        memory_mb: overrides.memory_mb.unwrap_or(s.memory_mb),
        storage_mb: overrides.storage_mb.unwrap_or(s.storage_mb),
        max_running: overrides.max_running.unwrap_or(s.max_running),
        max_paused: overrides.max_paused.unwrap_or(s.max_paused),
    };
    let mut limits = Amounts {
        vcpus: sizes.vcpus,
        memory_mb: sizes.memory_mb,
        storage_mb: sizes.storage_mb,
        running: sizes.max_running,
        paused: sizes.max_paused,
    };
    if plan.overflow == "burst" && sizes.vcpus > 0 {
        // Bursting adds vCPUs and the memory that goes with them.
        limits.vcpus += plan.burst_vcpus;
        limits.memory_mb += plan.burst_vcpus * sizes.memory_mb / sizes.vcpus;
    }
    Ok(Pool {
        plan: Some(plan),
        sizes: Some(sizes),
        limits,
    })
}

/// Names the first limit `need` does not fit.
async fn exhausted(
    db: &Db,
    team_id: &str,
    pool: &Pool,
    need: Amounts,
) -> Result<Exhausted, sqlx::Error> {
    let used = db::pools::used(db, team_id).await?;
    let l = pool.limits;
    let dims = [
        ("vcpus", used.vcpus, need.vcpus, l.vcpus),
        ("memory", used.memory_mb, need.memory_mb, l.memory_mb),
        ("storage", used.storage_mb, need.storage_mb, l.storage_mb),
        ("running sandboxes", used.running, need.running, l.running),
        ("paused sandboxes", used.paused, need.paused, l.paused),
    ];
    // A concurrent release may already have made room: the first grown
    // dimension stands for the refusal then.
    let (dimension, used, asked, limit) = dims
        .iter()
        .copied()
        .find(|(_, used, asked, limit)| *asked > 0 && used + asked > *limit)
        .or_else(|| dims.iter().copied().find(|(_, _, asked, _)| *asked > 0))
        .unwrap_or(dims[0]);
    let refusal = Exhausted {
        plan: pool.plan.as_ref().map_or(String::new(), |p| p.name.clone()),
        dimension,
        limit,
        used,
        asked,
    };
    let event = notify::Refusal {
        plan: &refusal.plan,
        dimension: refusal.dimension,
        limit: refusal.limit,
        used: refusal.used,
        asked: refusal.asked,
        message: refusal.to_string(),
    };
    notify::refused(db, team_id, &event).await;
    Ok(refusal)
}

/// After a reservation of `grown` grew the team's use: the thresholds it
/// crossed.
async fn grew(db: &Db, team_id: &str, pool: &Pool, grown: Amounts) {
    if let Some(s) = pool.sizes {
        let sizes = Amounts {
            vcpus: s.vcpus,
            memory_mb: s.memory_mb,
            storage_mb: s.storage_mb,
            running: s.max_running,
            paused: s.max_paused,
        };
        notify::thresholds(db, team_id, &sizes, &grown).await;
    }
}

/// Records new sandboxes of one team with their reservations, or none of
/// them when they do not fit its pool.
pub async fn insert_reserved(
    db: &Db,
    config: &CpConfig,
    rows: &[SandboxRow],
) -> Result<(), ReserveError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let pool = effective(db, config, &first.team_id).await?;
    let need = rows.iter().fold(Amounts::default(), |sum, s| {
        sum.plus(Shape::of(s).held(Some(Phase::Running)))
    });
    if db::sandboxes::insert_reserved(db, rows, &pool.limits).await? {
        grew(db, &first.team_id, &pool, need).await;
        return Ok(());
    }
    Err(exhausted(db, &first.team_id, &pool, need).await?.into())
}

/// Reserves the vCPUs, memory and running slot of a resume before its
/// host is called (the paused slot is given back).
pub async fn resume_reserved(
    db: &Db,
    config: &CpConfig,
    sandbox: &SandboxRow,
) -> Result<(), ReserveError> {
    let pool = effective(db, config, &sandbox.team_id).await?;
    let shape = Shape::of(sandbox);
    let need = shape
        .held(Some(Phase::Running))
        .minus(shape.held(Some(Phase::Paused)));
    if db::pools::move_to(db, sandbox, Some(Phase::Running), Some(&pool.limits)).await? {
        grew(db, &sandbox.team_id, &pool, need).await;
        return Ok(());
    }
    Err(exhausted(db, &sandbox.team_id, &pool, need).await?.into())
}

/// Gives a failed resume's reservation back (the sandbox stays paused).
pub async fn resume_failed(db: &Db, sandbox: &SandboxRow) -> Result<(), sqlx::Error> {
    let current = db::sandboxes::get_any(db, &sandbox.id).await?;
    if let Some(current) = current.filter(|c| c.state == crate::lifecycle::SandboxState::Paused) {
        db::pools::move_to(db, &current, Some(Phase::Paused), None).await?;
    }
    Ok(())
}

/// Reserves the paused slot of a pause before its host is called; the
/// sandbox keeps its vCPUs and memory until the pause is recorded. Only
/// the paused-sandbox limit is checked.
pub async fn pause_reserved(
    db: &Db,
    config: &CpConfig,
    sandbox: &SandboxRow,
) -> Result<(), ReserveError> {
    let pool = effective(db, config, &sandbox.team_id).await?;
    let limits = Amounts {
        paused: pool.limits.paused,
        ..Amounts::UNLIMITED
    };
    let need = Amounts {
        paused: 1,
        ..Amounts::default()
    };
    if db::pools::move_to(db, sandbox, Some(Phase::Pausing), Some(&limits)).await? {
        grew(db, &sandbox.team_id, &pool, need).await;
        return Ok(());
    }
    Err(exhausted(db, &sandbox.team_id, &pool, need).await?.into())
}

/// Gives a failed pause's paused slot back (the sandbox keeps running).
pub async fn pause_failed(db: &Db, sandbox: &SandboxRow) -> Result<(), sqlx::Error> {
    let current = db::sandboxes::get_any(db, &sandbox.id).await?;
    if let Some(current) = current.filter(|c| c.state == crate::lifecycle::SandboxState::Running) {
        db::pools::move_to(db, &current, Some(Phase::Running), None).await?;
    }
    Ok(())
}
