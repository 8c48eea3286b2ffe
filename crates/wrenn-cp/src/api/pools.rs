//! Pools and plans: `GET /v1/pool` (the caller's team's pool and use),
//! and for platform admins `/v1/admin/plans` (define plans),
//! `PUT /v1/admin/teams/{team_id}/plan` (put a team on one) and
//! `GET /v1/admin/teams/{team_id}/pool`. The rules: `service::pools`.
use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    extract::{ApiJson, ApiPath},
    rfc3339,
};
use crate::{
    auth::Principal,
    db::{plans::PlanRow, pools::Amounts},
    error::{ApiError, ApiResult},
    service::pools::{self, PlanError, PoolView, MIB_PER_GIB},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_pool))
        .routes(routes!(list_plans))
        .routes(routes!(put_plan, delete_plan))
        .routes(routes!(assign_plan))
        .routes(routes!(team_pool))
}

/// A plan as written and read (sizes in GiB and counts).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Ignored in a `PUT` body (the path names the plan).
    #[serde(default)]
    pub name: String,
    pub vcpus: i64,
    pub memory_gib: i64,
    /// Disks and snapshots of running and paused sandboxes.
    pub storage_gib: i64,
    /// Concurrent running sandboxes.
    pub max_running: i64,
    /// Concurrent paused sandboxes.
    pub max_paused: i64,
    /// Flat price per `period`, in cents.
    #[serde(default)]
    pub price_cents: i64,
    /// `hour`, `day`, `week` or `month` (default).
    #[serde(default = "month")]
    pub period: String,
    /// Past the pool: `refuse` (default), `queue` or `burst`.
    #[serde(default = "refuse")]
    pub overflow: String,
    /// With `burst`: vCPUs allowed past the pool (memory in proportion).
    #[serde(default)]
    pub burst_vcpus: i64,
    /// With `burst`: the price of one vCPU-hour past the pool, in cents.
    #[serde(default)]
    pub burst_cents_per_vcpu_hour: i64,
    /// With `queue`: how long a create that sets no `Wrenn-Pool-Wait`
    /// (every E2B API create) waits for room, 0-600 seconds (default 0).
    #[serde(default)]
    pub queue_wait_secs: i64,
}

fn month() -> String {
    "month".into()
}

fn refuse() -> String {
    "refuse".into()
}

impl From<&PlanRow> for Plan {
    fn from(row: &PlanRow) -> Self {
        Self {
            name: row.name.clone(),
            vcpus: row.sizes.vcpus,
            memory_gib: row.sizes.memory_mb / MIB_PER_GIB,
            storage_gib: row.sizes.storage_mb / MIB_PER_GIB,
            max_running: row.sizes.max_running,
            max_paused: row.sizes.max_paused,
            price_cents: row.price_cents,
            period: row.period.clone(),
            overflow: row.overflow.clone(),
            burst_vcpus: row.burst_vcpus,
            burst_cents_per_vcpu_hour: row.burst_cents_per_vcpu_hour,
            queue_wait_secs: row.queue_wait_secs,
        }
    }
}

/// Amounts of a pool: sizes, limits or use.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoolAmounts {
    pub vcpus: i64,
    pub memory_mib: i64,
    pub storage_mib: i64,
    pub running: i64,
    pub paused: i64,
}

impl From<Amounts> for PoolAmounts {
    fn from(a: Amounts) -> Self {
        Self {
            vcpus: a.vcpus,
            memory_mib: a.memory_mb,
            storage_mib: a.storage_mb,
            running: a.running,
            paused: a.paused,
        }
    }
}

/// A team's pool: its plan, its sizes (with overrides) and what is used.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pool {
    pub team_id: String,
    /// `null`: no plan, no pool limit.
    pub plan: Option<Plan>,
    /// The plan's sizes with the team's overrides; `null` without a plan.
    pub size: Option<PoolAmounts>,
    pub used: PoolAmounts,
    /// Use above the size (a team moved to a smaller plan): new sandboxes
    /// are refused until it fits.
    pub over: bool,
    pub updated_at: Option<String>,
}

impl From<&PoolView> for Pool {
    fn from(view: &PoolView) -> Self {
        let size = view.pool.sizes.map(|s| Amounts {
            vcpus: s.vcpus,
            memory_mb: s.memory_mb,
            storage_mb: s.storage_mb,
            running: s.max_running,
            paused: s.max_paused,
        });
        let u = view.used;
        let over = size.is_some_and(|s| {
            u.vcpus > s.vcpus
                || u.memory_mb > s.memory_mb
                || u.storage_mb > s.storage_mb
                || u.running > s.running
                || u.paused > s.paused
        });
        Self {
            team_id: view.team_id.clone(),
            plan: view.pool.plan.as_ref().map(Plan::from),
            size: size.map(PoolAmounts::from),
            used: view.used.into(),
            over,
            updated_at: view.pool.plan.as_ref().map(|p| rfc3339(p.updated_at)),
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(err: PlanError) -> Self {
        match err {
            PlanError::NotAdmin => Self::Forbidden("only platform admins may change plans"),
            PlanError::Invalid(message) => Self::Validation(message),
            PlanError::PlanNotFound(_) => Self::NotFound { what: "plan" },
            PlanError::TeamNotFound => Self::NotFound { what: "team" },
            err @ PlanError::InUse { .. } => Self::Conflict(err.to_string()),
            PlanError::Db(e) => e.into(),
        }
    }
}

/// The caller's team's pool and what its sandboxes use of it.
#[utoipa::path(get, path = "/v1/pool", tag = "pools",
    responses((status = 200, body = Pool)))]
async fn get_pool(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Pool>> {
    let view = pools::pool_of(&state.db, &state.config, &principal.team_id).await?;
    Ok(Json(Pool::from(&view)))
}

/// Every plan (platform admins only).
#[utoipa::path(get, path = "/v1/admin/plans", tag = "admin",
    responses((status = 200, body = [Plan]), (status = 403, body = crate::error::ErrorBody)))]
async fn list_plans(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<Plan>>> {
    let plans = pools::list_plans(&state.db, &principal).await?;
    Ok(Json(plans.iter().map(Plan::from).collect()))
}

/// Creates or replaces a plan (platform admins only). Sizes must be
/// positive; teams on the plan get the new sizes at once.
#[utoipa::path(put, path = "/v1/admin/plans/{name}", tag = "admin",
    params(("name" = String, Path)), request_body = Plan,
    responses((status = 200, body = Plan), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
async fn put_plan(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<Plan>,
) -> ApiResult<Json<Plan>> {
    let spec = pools::PlanSpec {
        name,
        vcpus: body.vcpus,
        memory_gib: body.memory_gib,
        storage_gib: body.storage_gib,
        max_running: body.max_running,
        max_paused: body.max_paused,
        price_cents: body.price_cents,
        period: body.period,
        overflow: body.overflow,
        burst_vcpus: body.burst_vcpus,
        burst_cents_per_vcpu_hour: body.burst_cents_per_vcpu_hour,
        queue_wait_secs: body.queue_wait_secs,
    };
    let plan = pools::put_plan(&state.db, &principal, &spec).await?;
    Ok(Json(Plan::from(&plan)))
}

/// Deletes a plan no team is on (platform admins only).
#[utoipa::path(delete, path = "/v1/admin/plans/{name}", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_plan(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    pools::delete_plan(&state.db, &principal, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A team's plan and its own sizes (`null`: the plan's).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignPlan {
    pub plan: String,
    pub vcpus: Option<i64>,
    pub memory_gib: Option<i64>,
    pub storage_gib: Option<i64>,
    pub max_running: Option<i64>,
    pub max_paused: Option<i64>,
}

/// Puts a team on a plan, with overrides (platform admins only). A plan
/// smaller than the team's use is accepted: its sandboxes keep running,
/// new ones are refused (`pool_exhausted`) until the use fits.
#[utoipa::path(put, path = "/v1/admin/teams/{team_id}/plan", tag = "admin",
    params(("team_id" = String, Path)), request_body = AssignPlan,
    responses((status = 200, body = Pool), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn assign_plan(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(team_id): ApiPath<String>,
    ApiJson(body): ApiJson<AssignPlan>,
) -> ApiResult<Json<Pool>> {
    let assignment = pools::Assignment {
        plan: body.plan,
        vcpus: body.vcpus,
        memory_gib: body.memory_gib,
        storage_gib: body.storage_gib,
        max_running: body.max_running,
        max_paused: body.max_paused,
    };
    let view = pools::assign(&state.db, &state.config, &principal, &team_id, &assignment).await?;
    Ok(Json(Pool::from(&view)))
}

/// Any team's pool and use (platform admins only).
#[utoipa::path(get, path = "/v1/admin/teams/{team_id}/pool", tag = "admin",
    params(("team_id" = String, Path)),
    responses((status = 200, body = Pool), (status = 403, body = crate::error::ErrorBody)))]
async fn team_pool(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(team_id): ApiPath<String>,
) -> ApiResult<Json<Pool>> {
    if !principal.is_platform_admin() {
        return Err(PlanError::NotAdmin.into());
    }
    let view = pools::pool_of(&state.db, &state.config, &team_id).await?;
    Ok(Json(Pool::from(&view)))
}
