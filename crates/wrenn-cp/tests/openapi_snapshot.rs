//! The OpenAPI document is a checked-in contract (`crates/wrenn-cp/openapi.json`):
//! these tests fail when the document generated from the handlers drifts
//! from it, and check that the router serves that same document and the
//! docs page. `WRENN_UPDATE_OPENAPI=1 cargo test -p wrenn-cp --test
//! openapi_snapshot` rewrites the file after an intended change.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

mod common;

use std::{collections::BTreeSet, path::PathBuf};

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use common::{Kind, TestApp};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

/// The document as generated from the handlers, pretty-printed with a
/// trailing newline (utoipa keeps paths and schemas in sorted maps).
fn generated() -> String {
    let (_, document) = wrenn_cp::api::routes().split_for_parts();
    let mut text = document.to_pretty_json().expect("serialise the document");
    text.push('\n');
    text
}

#[test]
fn openapi_when_generated_then_matches_checked_in_file() {
    let path = checked_in_path();
    let generated = generated();

    if std::env::var_os("WRENN_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();

    if checked_in != generated {
        let first_difference = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "{} is out of date with the handlers' annotations (first difference at line {}).\n\
             If the API change is intended, regenerate it with\n    \
             WRENN_UPDATE_OPENAPI=1 cargo test -p wrenn-cp --test openapi_snapshot\n\
             and commit the file.",
            path.display(),
            first_difference + 1
        );
    }
}

#[test]
fn openapi_when_generated_then_every_ref_is_registered() {
    let document: Value = serde_json::from_str(&generated()).expect("JSON");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut refs = BTreeSet::new();
    collect_refs(&document, &mut refs);

    let dangling: Vec<_> = refs
        .iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_none_or(|name| !schemas.contains_key(name))
        })
        .collect();

    assert!(dangling.is_empty(), "unregistered $refs: {dangling:?}");
}

#[test]
fn openapi_when_generated_then_every_operation_is_documented() {
    let document: Value = serde_json::from_str(&generated()).expect("JSON");
    let mut gaps = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let name = format!("{} {path}", method.to_uppercase());
            if operation["tags"].as_array().is_none_or(Vec::is_empty) {
                gaps.push(format!("{name}: no tag"));
            }
            if operation["summary"].as_str().is_none_or(str::is_empty) {
                gaps.push(format!("{name}: no summary"));
            }
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses {
                let envelope = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') && envelope != "#/components/schemas/ErrorBody" {
                    gaps.push(format!("{name}: {status} without the error envelope"));
                }
            }
        }
    }
    assert!(gaps.is_empty(), "undocumented parts:\n{}", gaps.join("\n"));
}

fn collect_refs(value: &Value, refs: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.insert(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_json_when_requested_then_serves_the_generated_document() {
    common::run_bounded(async {
        let app = TestApp::start(Kind::Sqlite).await;

        let (status, served) = app.request(Method::GET, "/openapi.json", None, None).await;

        assert_eq!(status, StatusCode::OK);
        let expected: Value = serde_json::from_str(&generated()).expect("JSON");
        assert_eq!(served, expected);
    })
    .await;
}

#[tokio::test]
async fn docs_when_requested_then_answers_html_pointing_at_the_document() {
    common::run_bounded(async {
        let app = TestApp::start(Kind::Sqlite).await;
        let router = wrenn_cp::api::router(app.state.clone());
        let request = Request::get("/docs").body(Body::empty()).expect("request");

        let response = router.oneshot(request).await.expect("infallible router");

        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let page = String::from_utf8_lossy(&body);
        assert!(page.contains("/openapi.json"), "{page}");
    })
    .await;
}

#[test]
fn openapi_when_generated_then_path_parameters_are_in_the_path() {
    // utoipa documents an `IntoParams` struct as path parameters unless told
    // `parameter_in = Query`; validators then reject the document.
    let document: Value = serde_json::from_str(&generated()).expect("JSON");
    let mut stray = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                if parameter["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    stray.push(format!("{} {path}: {name}", method.to_uppercase()));
                }
            }
        }
    }
    assert!(
        stray.is_empty(),
        "path parameters missing from their path: {stray:?}"
    );
}
