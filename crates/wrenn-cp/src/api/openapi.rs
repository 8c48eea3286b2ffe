//! The OpenAPI document's fixed parts (info, security schemes, the error
//! envelope) and the routes that serve it: `/openapi.json` and `/docs`.
use axum::{response::Html, routing::get, Json, Router};
use utoipa::{
    openapi::{
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
        OpenApi as Document,
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
    }
}

pub fn base() -> Document {
    ApiDoc::openapi()
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
