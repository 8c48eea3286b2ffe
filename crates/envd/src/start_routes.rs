//! The routes of a template's start command: `POST /wrenn/start` hands
//! the spec to the supervisor (`crate::start`), `GET /wrenn/start` reports
//! it. Kept out of `start` so the supervisor does not depend on the shared
//! state that holds it.
use axum::{extract::State, http::StatusCode, Json};

use crate::{
    files::HttpError,
    process::rpc::base_env,
    start::{StartError, StartSpec},
    state::SharedState,
    users::{self, UserInfo},
};

/// `POST /wrenn/start` → `202`.
pub async fn post(
    State(state): State<SharedState>,
    Json(spec): Json<StartSpec>,
) -> Result<StatusCode, HttpError> {
    let bad = |err: StartError| {
        let status = match err {
            StartError::AlreadyStarted => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        HttpError::new(status, err.to_string())
    };
    spec.validate().map_err(bad)?;
    let name = match spec.user.as_str() {
        "" => "user".to_owned(),
        name => name.to_owned(),
    };
    let user = tokio::task::spawn_blocking(move || UserInfo::lookup(&name))
        .await
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| bad(StartError::User(e.to_string())))?;
    let cwd = match spec.workdir.as_str() {
        "" => user.home.clone(),
        dir => users::resolve_path(dir, &user.home)
            .map_err(|e| bad(StartError::User(e.to_string())))?,
    };
    let mut env = base_env(&user, &cwd);
    env.extend(state.settings.read().await.env_vars.clone());
    env.extend(spec.env.clone());
    state
        .start
        .start(spec, &user, cwd, env.into_iter().collect())
        .await
        .map_err(bad)?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /wrenn/start` → `{state, restarts, pid, ready_at?, error?, log_tail}`.
pub async fn get(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, HttpError> {
    let (status, log_tail) = state
        .start
        .status()
        .await
        .ok_or_else(|| HttpError::new(StatusCode::NOT_FOUND, "no start command was started"))?;
    let mut body = serde_json::to_value(status)
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    body["log_tail"] = serde_json::Value::String(log_tail);
    Ok(Json(body))
}
