//! The OpenAPI document's fixed parts (info, security schemes, the error
//! envelope) and the routes that serve it: `/openapi.json` and `/docs`.
use axum::{extract::State, http::StatusCode, response::Response, routing::get, Json, Router};
use utoipa::{
    openapi::{
        path::{Operation, ParameterIn},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder,
    },
    Modify, OpenApi,
};

use crate::{
    dashboard::{self, headers},
    error::ErrorBody,
    state::AppState,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wrenn API",
        description = "Sandboxes in microVMs: create, run commands, move files, pause and resume. \
                       Errors are `{\"error\":{\"code\",\"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = []))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A user JWT from /v1/auth/login, or an API key `wrn_...`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "wrenn_session",
                "A browser session from POST /v1/auth/session; state-changing requests also send X-CSRF-Token",
            ))),
        );
        components.add_security_scheme(
            "host_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Host-Token",
                "A registered agent's host JWT (typ: host)",
            ))),
        );
    }
}

pub fn base() -> Document {
    ApiDoc::openapi()
}

/// Adds to every operation the error answers the shared machinery gives
/// (credentials, JSON bodies, query strings, unknown ids), where the
/// handler's annotation does not already list that status.
pub fn add_common_errors(document: &mut Document) {
    for (path, item) in &mut document.paths.paths {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, codes) in common_errors(path, operation) {
                let response = ResponseBuilder::new()
                    .description(codes)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert(RefOr::T(response));
            }
        }
    }
}

fn common_errors(path: &str, operation: &Operation) -> Vec<(&'static str, &'static str)> {
    let mut errors = Vec::new();
    // `security(())` (signup, login) overrides the document's requirement.
    if operation.security.is_none() {
        errors.extend([
            ("401", "unauthenticated"),
            ("429", "rate_limited: a request limit of the API key or team is spent; see `Retry-After` and the `RateLimit-*` headers"),
        ]);
    }
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    let query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    match (json_body, query) {
        (true, _) => errors.push(("400", "invalid_json / bad_request")),
        (false, true) => errors.push(("400", "bad_request")),
        (false, false) => {}
    }
    if json_body {
        errors.extend([
            ("413", "payload_too_large"),
            ("415", "unsupported_media_type"),
        ]);
    }
    if json_body || query {
        errors.push(("422", "validation_failed"));
    }
    if path.contains('{') {
        errors.push(("404", "not_found"));
    }
    // Everything under one sandbox goes to its VM through its host.
    if path.starts_with("/v1/sandboxes/{id}/") {
        errors.extend([
            ("409", "sandbox_not_running / conflict"),
            ("503", "agent_unavailable"),
        ]);
    }
    errors
}

/// Redoc from this server (`CP_DASHBOARD_DIR/vendor/`, installed with the
/// dashboard), never from a CDN; it renders the spec without inline script.
const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wrenn API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/vendor/redoc.standalone.js"></script>
<noscript>The API document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>"#;

/// `/docs` when Redoc is not installed.
const DOCS_WITHOUT_REDOC: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wrenn API</title></head>
<body><h1>Wrenn API</h1>
<p>The API document is at <a href="/openapi.json">/openapi.json</a>. The rendered
reference comes with the dashboard (<code>dashboard/scripts/build.sh</code>), which is
not installed in <code>CP_DASHBOARD_DIR</code>.</p>
</body></html>"#;

/// Where the dashboard build puts Redoc's bundle.
pub const REDOC_PATH: &str = "vendor/redoc.standalone.js";

async fn docs(State(state): State<AppState>) -> Response {
    let installed = tokio::fs::metadata(state.config.dashboard_dir.join(REDOC_PATH))
        .await
        .is_ok_and(|m| m.is_file());
    let html = if installed {
        DOCS_PAGE
    } else {
        DOCS_WITHOUT_REDOC
    };
    headers::secured(dashboard::page(StatusCode::OK, html))
}

pub fn serve(document: Document) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(move || async move { Json(document) }))
        .route("/docs", get(docs))
}
