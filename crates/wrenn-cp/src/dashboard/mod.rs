//! The web dashboard, served from `CP_DASHBOARD_DIR` (built by
//! `dashboard/scripts/build.sh`): every GET outside the API's paths is a
//! file of that directory or, for a path without an extension, its
//! `index.html` (client-side routing). Hashed assets under
//! `_app/immutable/` are cached for good, everything else revalidated.
//! Every answer carries the security headers of [`headers`]. Without the
//! directory, pages answer a short note on how to build it.
pub mod files;
pub mod headers;

use std::path::Path;

use axum::{
    body::Body,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

/// Whether `path` belongs to the API rather than the dashboard.
pub fn is_api_path(path: &str) -> bool {
    const PREFIXES: [&str; 2] = ["/v1", "/e2b"];
    const EXACT: [&str; 3] = ["/openapi.json", "/docs", "/health"];
    EXACT.contains(&path)
        || PREFIXES.iter().any(|p| {
            path == *p
                || path
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

/// Answers the dashboard's `path` from `root`.
pub async fn serve(root: &Path, path: &str) -> Response {
    let Some(relative) = files::relative(path) else {
        return not_found();
    };
    if !root.is_dir() {
        return if files::is_page(&relative) {
            headers::secured(page(StatusCode::OK, NOT_INSTALLED))
        } else {
            not_found()
        };
    }
    if let Some(bytes) = files::read_inside(root, &relative).await {
        return file(&relative, bytes);
    }
    if files::is_page(&relative) {
        let index = std::path::PathBuf::from("index.html");
        if let Some(bytes) = files::read_inside(root, &index).await {
            return file(&index, bytes);
        }
    }
    not_found()
}

fn file(relative: &Path, bytes: Vec<u8>) -> Response {
    let cache = if relative.starts_with("_app/immutable") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(files::content_type(relative)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers::secured(response)
}

/// A small self-contained HTML page (no scripts, inline style only).
pub fn page(status: StatusCode, html: &'static str) -> Response {
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn not_found() -> Response {
    headers::secured(page(StatusCode::NOT_FOUND, NOT_FOUND))
}

const NOT_INSTALLED: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wrenn: dashboard not installed</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}code{background:#8882;padding:.1rem .3rem}</style>
</head><body><h1>The Wrenn dashboard is not installed</h1>
<p>This control plane serves the dashboard from <code>CP_DASHBOARD_DIR</code>
(default <code>/usr/local/share/wrenn/dashboard</code>), which does not exist.
Build it from the repository with <code>dashboard/scripts/build.sh /usr/local/share/wrenn/dashboard</code>
and reload this page.</p>
<p>The API works without it: see <a href="/docs">/docs</a> and <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>"#;

const NOT_FOUND: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found</title></head>
<body><h1>Not found</h1><p><a href="/">Wrenn</a></p></body></html>"#;

#[cfg(test)]
mod tests {
    #[test]
    fn is_api_path_when_prefix_or_exact_then_true() {
        for path in [
            "/v1",
            "/v1/me",
            "/e2b/sandboxes",
            "/docs",
            "/health",
            "/openapi.json",
        ] {
            assert!(super::is_api_path(path), "{path}");
        }
        for path in ["/", "/sandboxes", "/v1x", "/docs/x", "/_app/immutable/a.js"] {
            assert!(!super::is_api_path(path), "{path}");
        }
    }
}
