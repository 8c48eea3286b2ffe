//! The OpenAPI document's fixed parts (info, security schemes, the error
//! envelope) and the routes that serve it: `/openapi.json` and `/docs`.
use axum::{response::Html, routing::get, Json, Router};
use utoipa::{
    openapi::{
        path::{Operation, ParameterIn},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder,
    },
    Modify, OpenApi,
};

use crate::{error::ErrorBody, state::AppState};

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

const DOCS_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Wrenn API</title></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script>
<noscript>The API document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>"#;

pub fn serve(document: Document) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(move || async move { Json(document) }))
        .route("/docs", get(|| async { Html(DOCS_PAGE) }))
}
