//! Plans (platform admins define them) and the plan each team is on
//! (platform admins assign it; members and owners only read their pool).
//! Audited as `plan.put`, `plan.delete`, `team.plan`.
use crate::{
    audit::{self, Outcome},
    auth::Principal,
    config::CpConfig,
    db::{
        self,
        plans::{Overrides, PlanRow, Sizes},
        pools::Amounts,
        Db,
    },
};

use super::{effective, MIB_PER_GIB};

/// What happens past the pool.
pub const OVERFLOWS: [&str; 3] = ["refuse", "queue", "burst"];
/// The periods a plan's price is for.
pub const PERIODS: [&str; 4] = ["hour", "day", "week", "month"];

/// A plan as an admin writes it (sizes in GiB and counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    pub name: String,
    pub vcpus: i64,
    pub memory_gib: i64,
    pub storage_gib: i64,
    pub max_running: i64,
    pub max_paused: i64,
    pub price_cents: i64,
    pub period: String,
    pub overflow: String,
    pub burst_vcpus: i64,
    pub burst_cents_per_vcpu_hour: i64,
    pub queue_wait_secs: i64,
}

/// A team's plan and its own sizes (GiB and counts; `None`: the plan's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    pub plan: String,
    pub vcpus: Option<i64>,
    pub memory_gib: Option<i64>,
    pub storage_gib: Option<i64>,
    pub max_running: Option<i64>,
    pub max_paused: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("only platform admins may change plans")]
    NotAdmin,
    #[error("{0}")]
    Invalid(String),
    #[error("plan '{0}' not found")]
    PlanNotFound(String),
    #[error("team not found")]
    TeamNotFound,
    #[error("plan '{name}' is the plan of {teams} team(s); move them to another plan first")]
    InUse { name: String, teams: i64 },
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// A team's pool: sizes, limits and what is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolView {
    pub team_id: String,
    pub pool: super::Pool,
    pub used: Amounts,
}

fn admin(principal: &Principal) -> Result<(), PlanError> {
    if principal.is_platform_admin() {
        Ok(())
    } else {
        Err(PlanError::NotAdmin)
    }
}

fn positive(field: &str, value: i64) -> Result<i64, PlanError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(PlanError::Invalid(format!(
            "{field} must be a positive number, got {value}"
        )))
    }
}

fn gib(field: &str, value: i64) -> Result<i64, PlanError> {
    positive(field, value)?
        .checked_mul(MIB_PER_GIB)
        .ok_or_else(|| PlanError::Invalid(format!("{field} is too large")))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Checks a plan and converts it to its stored form.
pub fn validate(spec: &PlanSpec) -> Result<PlanRow, PlanError> {
    if !valid_name(&spec.name) {
        return Err(PlanError::Invalid(
            "a plan name is 1 to 64 of a-z, 0-9, '-' and '_'".into(),
        ));
    }
    if !OVERFLOWS.contains(&spec.overflow.as_str()) {
        return Err(PlanError::Invalid(format!(
            "overflow must be one of refuse, queue, burst, not '{}'",
            spec.overflow
        )));
    }
    if !PERIODS.contains(&spec.period.as_str()) {
        return Err(PlanError::Invalid(format!(
            "period must be one of hour, day, week, month, not '{}'",
            spec.period
        )));
    }
    for (field, value) in [
        ("price_cents", spec.price_cents),
        ("burst_vcpus", spec.burst_vcpus),
        ("burst_cents_per_vcpu_hour", spec.burst_cents_per_vcpu_hour),
        ("queue_wait_secs", spec.queue_wait_secs),
    ] {
        if value < 0 {
            return Err(PlanError::Invalid(format!(
                "{field} cannot be negative, got {value}"
            )));
        }
    }
    if spec.queue_wait_secs > 600 {
        return Err(PlanError::Invalid(format!(
            "queue_wait_secs must be 0 to 600, got {}",
            spec.queue_wait_secs
        )));
    }
    if spec.overflow == "burst" {
        positive("burst_vcpus (with overflow burst)", spec.burst_vcpus)?;
    }
    Ok(PlanRow {
        name: spec.name.clone(),
        sizes: Sizes {
            vcpus: positive("vcpus", spec.vcpus)?,
            memory_mb: gib("memory_gib", spec.memory_gib)?,
            storage_mb: gib("storage_gib", spec.storage_gib)?,
            max_running: positive("max_running", spec.max_running)?,
            max_paused: positive("max_paused", spec.max_paused)?,
        },
        price_cents: spec.price_cents,
        period: spec.period.clone(),
        overflow: spec.overflow.clone(),
        burst_vcpus: spec.burst_vcpus,
        burst_cents_per_vcpu_hour: spec.burst_cents_per_vcpu_hour,
        queue_wait_secs: spec.queue_wait_secs,
        created_at: 0,
        updated_at: 0,
    })
}

/// Creates or replaces a plan (admins only).
pub async fn put_plan(
    db: &Db,
    principal: &Principal,
    spec: &PlanSpec,
) -> Result<PlanRow, PlanError> {
    admin(principal)?;
    let row = validate(spec)?;
    db::plans::upsert(db, &row).await?;
    audit::record(
        db,
        principal,
        "plan.put",
        ("plan", &row.name),
        Outcome::Ok,
        "",
    )
    .await;
    db::plans::get(db, &row.name)
        .await?
        .ok_or(PlanError::PlanNotFound(row.name))
}

pub async fn list_plans(db: &Db, principal: &Principal) -> Result<Vec<PlanRow>, PlanError> {
    admin(principal)?;
    Ok(db::plans::list(db).await?)
}

/// Deletes a plan no team is on (admins only).
pub async fn delete_plan(db: &Db, principal: &Principal, name: &str) -> Result<(), PlanError> {
    admin(principal)?;
    if db::plans::delete_unused(db, name).await? {
        audit::record(
            db,
            principal,
            "plan.delete",
            ("plan", name),
            Outcome::Ok,
            "",
        )
        .await;
        return Ok(());
    }
    match db::plans::get(db, name).await? {
        None => Err(PlanError::PlanNotFound(name.to_owned())),
        Some(_) => Err(PlanError::InUse {
            name: name.to_owned(),
            teams: db::plans::teams_on(db, name).await?,
        }),
    }
}

fn override_mib(field: &str, value: Option<i64>) -> Result<Option<i64>, PlanError> {
    value.map(|v| gib(field, v)).transpose()
}

fn override_count(field: &str, value: Option<i64>) -> Result<Option<i64>, PlanError> {
    value.map(|v| positive(field, v)).transpose()
}

/// Puts a team on a plan with overrides (admins only). A plan smaller
/// than the team's current use is allowed: its sandboxes keep running and
/// new ones are refused until the use fits.
pub async fn assign(
    db: &Db,
    config: &CpConfig,
    principal: &Principal,
    team_id: &str,
    assignment: &Assignment,
) -> Result<PoolView, PlanError> {
    admin(principal)?;
    let overrides = Overrides {
        vcpus: override_count("vcpus", assignment.vcpus)?,
        memory_mb: override_mib("memory_gib", assignment.memory_gib)?,
        storage_mb: override_mib("storage_gib", assignment.storage_gib)?,
        max_running: override_count("max_running", assignment.max_running)?,
        max_paused: override_count("max_paused", assignment.max_paused)?,
    };
    if db::teams::name(db, team_id).await?.is_none() {
        return Err(PlanError::TeamNotFound);
    }
    if db::plans::get(db, &assignment.plan).await?.is_none() {
        return Err(PlanError::PlanNotFound(assignment.plan.clone()));
    }
    db::plans::assign(db, team_id, &assignment.plan, &overrides).await?;
    audit::record(
        db,
        principal,
        "team.plan",
        ("team", team_id),
        Outcome::Ok,
        &assignment.plan,
    )
    .await;
    pool_of(db, config, team_id).await
}

/// A team's pool and use (the caller's own, or any team's for admins:
/// the API decides which team).
pub async fn pool_of(db: &Db, config: &CpConfig, team_id: &str) -> Result<PoolView, PlanError> {
    Ok(PoolView {
        team_id: team_id.to_owned(),
        pool: effective(db, config, team_id).await?,
        used: db::pools::used(db, team_id).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PlanSpec {
        PlanSpec {
            name: "small".into(),
            vcpus: 4,
            memory_gib: 8,
            storage_gib: 20,
            max_running: 4,
            max_paused: 10,
            price_cents: 2000,
            period: "month".into(),
            overflow: "refuse".into(),
            burst_vcpus: 0,
            burst_cents_per_vcpu_hour: 0,
            queue_wait_secs: 0,
        }
    }

    #[test]
    fn validate_when_sizes_positive_then_mib() {
        let row = validate(&spec()).expect("valid");
        assert_eq!((row.sizes.memory_mb, row.sizes.storage_mb), (8192, 20480));
    }

    #[test]
    fn validate_when_zero_or_negative_size_then_refused_naming_it() {
        for (field, edit) in [
            (
                "vcpus",
                (|s: &mut PlanSpec| s.vcpus = 0) as fn(&mut PlanSpec),
            ),
            ("memory_gib", |s| s.memory_gib = -1),
            ("max_paused", |s| s.max_paused = 0),
        ] {
            let mut s = spec();
            edit(&mut s);
            let err = validate(&s).expect_err("refused");
            assert!(err.to_string().starts_with(field), "{err}");
        }
    }

    #[test]
    fn validate_when_burst_without_ceiling_then_refused() {
        let s = PlanSpec {
            overflow: "burst".into(),
            ..spec()
        };
        assert!(validate(&s).is_err());
    }
}
