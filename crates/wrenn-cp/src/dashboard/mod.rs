//! The web dashboard, served from `CP_DASHBOARD_DIR` (built by
//! `dashboard/scripts/build.sh`): every GET outside the API's paths is a
//! file of that directory or, for a path without an extension, its
//! `index.html` (client-side routing). Hashed assets under
//! `_app/immutable/` are cached for good, everything else revalidated.
//! The build leaves a gzip copy (`NAME.gz`) beside each large text file;
//! a client that accepts gzip gets that copy, so no answer is compressed
//! per request.
//! Every answer carries the security headers of [`headers`]. Without the
//! directory, pages answer a short note on how to build it.
pub mod files;
pub mod headers;

use std::path::Path;

use axum::{
    body::Body,
    http::{header, HeaderMap, HeaderValue, StatusCode},
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

/// Whether the request's `Accept-Encoding` allows gzip (`q=0` refuses it).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Answers the dashboard's `path` from `root`; with `gzip`, from the
/// file's `.gz` copy when the build made one.
pub async fn serve(root: &Path, path: &str, gzip: bool) -> Response {
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
    if let Some(response) = file(root, &relative, gzip).await {
        return response;
    }
    if files::is_page(&relative) {
        let index = std::path::PathBuf::from("index.html");
        if let Some(response) = file(root, &index, gzip).await {
            return response;
        }
    }
    not_found()
}

/// `relative` under `root` (its gzip copy when wanted and present).
async fn file(root: &Path, relative: &Path, gzip: bool) -> Option<Response> {
    if gzip {
        let mut compressed = relative.as_os_str().to_owned();
        compressed.push(".gz");
        if let Some(bytes) = files::read_inside(root, Path::new(&compressed)).await {
            let mut response = file_response(relative, bytes);
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            return Some(response);
        }
    }
    let bytes = files::read_inside(root, relative).await?;
    Some(file_response(relative, bytes))
}

fn file_response(relative: &Path, bytes: Vec<u8>) -> Response {
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
    // Caches must keep the plain and the gzip answers apart.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
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
    use axum::http::{header, HeaderMap, HeaderValue};

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn accepts_gzip_when_listed_then_true_unless_q_zero() {
        assert!(super::accepts_gzip(&accept("gzip, deflate, br")));
        assert!(super::accepts_gzip(&accept("br;q=1.0, GZIP;q=0.5")));
        assert!(super::accepts_gzip(&accept("*")));
        assert!(!super::accepts_gzip(&accept("gzip;q=0")));
        assert!(!super::accepts_gzip(&accept("br, identity")));
        assert!(!super::accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn serve_when_gzip_copy_then_encoded_else_plain() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.js"), "plain").unwrap();
        std::fs::write(dir.path().join("app.js.gz"), "zipped").unwrap();
        std::fs::write(dir.path().join("other.css"), "css").unwrap();
        let body = |r: axum::response::Response| async move {
            let bytes = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };

        let zipped = super::serve(dir.path(), "/app.js", true).await;
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            zipped.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(body(zipped).await, "zipped");

        let plain = super::serve(dir.path(), "/app.js", false).await;
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body(plain).await, "plain");

        let no_copy = super::serve(dir.path(), "/other.css", true).await;
        assert!(no_copy.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body(no_copy).await, "css");
    }

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
