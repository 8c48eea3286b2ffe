//! The E2B-compatible REST API: E2B's paths, JSON keys, status codes and
//! `{"code", "message"}` errors over Wrenn's sandbox service, so that code
//! written for the `e2b` SDKs runs against Wrenn by changing environment
//! variables (docs/api.md, "E2B-compatible API"). Handlers authenticate
//! (`X-API-KEY`, any Wrenn credential), parse E2B's shapes, call one
//! function of `service::sandboxes` (or `service::builds::e2b` for the
//! template builds) and answer E2B's shapes: no sandbox rule lives here. Not part of Wrenn's `/openapi.json`: it is E2B's
//! contract, checked against the real SDK (tests/e2b/).
mod create;
mod error;
mod extract;
mod fork;
mod lifecycle;
mod list;
mod metrics;
mod network;
mod snapshots;
mod templates;
mod views;

use std::sync::Arc;

use axum::{
    extract::DefaultBodyLimit,
    routing::{delete, get, post, put},
    Router,
};

pub use error::{E2bError, E2bResult};

use crate::{api::rate_limit, state::AppState};

/// E2B's routes, without layers: to be nested where the layers of Wrenn's
/// API (rate limits, body limit, tracing) already apply.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandboxes", post(create::create_v1).get(list::list_v1))
        .route("/v2/sandboxes", post(create::create).get(list::list_v2))
        .route(
            "/sandboxes/{sandbox_id}",
            get(lifecycle::get).delete(lifecycle::kill),
        )
        .route(
            "/sandboxes/{sandbox_id}/timeout",
            post(lifecycle::set_timeout),
        )
        .route("/sandboxes/{sandbox_id}/pause", post(lifecycle::pause))
        .route("/sandboxes/{sandbox_id}/resume", post(lifecycle::resume))
        .route(
            "/sandboxes/{sandbox_id}/connect",
            post(lifecycle::connect_v1),
        )
        .route(
            "/v2/sandboxes/{sandbox_id}/connect",
            post(lifecycle::connect),
        )
        .route("/sandboxes/{sandbox_id}/metrics", get(metrics::metrics))
        .route("/sandboxes/{sandbox_id}/fork", post(fork::fork))
        .route("/sandboxes/{sandbox_id}/snapshots", post(snapshots::create))
        .route("/snapshots", get(snapshots::list))
        .route(
            "/templates/{template_id}",
            delete(snapshots::delete_template),
        )
        .route("/templates", get(templates::list))
        .route("/v3/templates", post(templates::request))
        .route(
            "/templates/{template_id}/files/{hash}",
            get(templates::file_link),
        )
        .route(
            "/templates/{template_id}/files/{hash}/{token}",
            put(templates::upload),
        )
        .route(
            "/v2/templates/{template_id}/builds/{build_id}",
            post(templates::start),
        )
        .route(
            "/templates/{template_id}/builds/{build_id}/status",
            get(templates::status),
        )
        .route("/templates/aliases/{alias}", get(templates::alias))
        .route(
            "/templates/tags",
            post(templates::assign_tags).delete(templates::remove_tags),
        )
        .route("/templates/{template_id}/tags", get(templates::tags))
        .route("/sandboxes/{sandbox_id}/network", put(network::update))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::method_not_allowed)
}

/// The E2B API on its own, with the layers Wrenn's API has (its own rate
/// limit buckets; `api::routers` shares them with Wrenn's API): what
/// `api.<domain>` serves at its root.
pub fn router(state: AppState) -> Router {
    let limits = Arc::new(rate_limit::RateLimits::new(&state.config.rate_limits));
    router_with_limits(state, limits)
}

/// [`router`] spending `limits`' buckets.
pub fn router_with_limits(state: AppState, limits: Arc<rate_limit::RateLimits>) -> Router {
    let router = routes()
        .layer(DefaultBodyLimit::max(crate::api::MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            rate_limit::layer,
        ));
    crate::api::request_id::layer(router).with_state(state)
}
