//! The REST API: one router assembled from per-resource modules, each of
//! which registers its handlers together with their OpenAPI operations, so
//! the served `/openapi.json` cannot drift from the routes.
pub mod admin;
pub mod audit_log;
pub mod auth;
mod authenticate;
pub mod browser_session;
pub mod builds;
pub mod e2b;
pub mod extract;
pub mod health;
pub mod hosts;
pub mod input;
pub mod keys;
pub mod me;
pub mod members;
pub mod openapi;
pub mod pools;
pub mod rate_limit;
pub(crate) mod request_id;
pub mod sandboxes;
mod service_errors;
pub mod teams;
pub mod template_view;
pub mod templates;
pub mod usage;
pub mod users;
pub mod views;
pub mod webhooks;

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{Method, StatusCode, Uri},
    response::Response,
    Router,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{error::error_response, state::AppState};

/// Largest JSON request body (file uploads stream and have no limit).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// The API's routes with their OpenAPI document.
pub fn routes() -> OpenApiRouter<AppState> {
    let mut routes = OpenApiRouter::with_openapi(openapi::base())
        .merge(health::routes())
        .merge(sandboxes::routes())
        .merge(templates::routes())
        .merge(builds::routes())
        .merge(hosts::routes())
        .merge(auth::routes())
        .merge(browser_session::routes())
        .merge(me::routes())
        .merge(teams::routes())
        .merge(members::routes())
        .merge(admin::routes())
        .merge(users::routes())
        .merge(keys::routes())
        .merge(audit_log::routes())
        .merge(pools::routes())
        .merge(usage::routes())
        .merge(webhooks::routes());
    openapi::add_common_errors(routes.get_openapi_mut());
    routes
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    routers(state).0
}

/// Wrenn's API and the E2B API on its own (for `api.<domain>`), spending
/// the same rate limit buckets.
pub fn routers(state: AppState) -> (Router, Router) {
    let limits = std::sync::Arc::new(rate_limit::RateLimits::new(&state.config.rate_limits));
    let e2b = e2b::router_with_limits(state.clone(), limits.clone());
    (router_with_limits(state, limits), e2b)
}

fn router_with_limits(state: AppState, limits: std::sync::Arc<rate_limit::RateLimits>) -> Router {
    let (router, document) = routes().split_for_parts();
    let router = router
        .merge(openapi::serve(document))
        // Every other GET outside the API is the dashboard's.
        // Until the ingress serves it at `api.<domain>`, and also then for
        // `E2B_API_URL=http://host:port/e2b`.
        .nest("/e2b", e2b::routes())
        .fallback(dashboard_or_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            rate_limit::layer,
        ));
    request_id::layer(router).with_state(state)
}

async fn dashboard_or_not_found(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    if matches!(method, Method::GET | Method::HEAD) && !crate::dashboard::is_api_path(uri.path()) {
        let gzip = crate::dashboard::accepts_gzip(&headers);
        return crate::dashboard::serve(&state.config.dashboard_dir, uri.path(), gzip).await;
    }
    not_found().await
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such route".into())
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method".into(),
    )
}

pub use crate::timestamp::rfc3339;

/// An opaque pagination cursor: the sort key of the last item of a page.
pub mod cursor {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

    use crate::error::ApiError;

    pub fn encode(at: i64, id: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
    }

    pub fn decode(cursor: &str) -> Result<(i64, String), ApiError> {
        let invalid = || ApiError::BadRequest("the cursor is not one this API returned".into());
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (at, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok((at.parse().map_err(|_| invalid())?, id.to_owned()))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn decode_when_encoded_then_round_trips_and_garbage_refused() {
            let cursor = super::encode(1234, "sbx_1");
            assert_eq!(
                super::decode(&cursor).expect("valid"),
                (1234, "sbx_1".into())
            );
            assert!(super::decode("%%%").is_err());
        }
    }
}

/// Validated page size: 1..=200, default 50.
pub fn page_limit(limit: Option<u32>) -> Result<i64, crate::error::ApiError> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=200) => Ok(i64::from(n)),
        Some(_) => Err(crate::error::ApiError::validation(
            "limit must be between 1 and 200",
        )),
    }
}
