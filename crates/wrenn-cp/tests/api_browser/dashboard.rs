//! Static serving from `CP_DASHBOARD_DIR`: SPA fallback, cache headers,
//! traversal refused, the page shown when it is missing, security headers,
//! `/docs` with the local Redoc.
use axum::http::{header, HeaderMap, Method, StatusCode};

use crate::{app, common::Kind, get_raw};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
     worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A built dashboard in `<tmp>/dashboard`, with a secret file beside it
/// (`<tmp>/secret.txt`) and a symbolic link from inside to it.
fn built_dashboard(with_redoc: bool) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dashboard");
    std::fs::create_dir_all(dir.join("_app/immutable")).unwrap();
    std::fs::create_dir_all(dir.join("vendor")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Wrenn</title>SPA",
    )
    .unwrap();
    std::fs::write(dir.join("_app/immutable/app.1234.js"), "console.log(1)").unwrap();
    std::fs::write(dir.join("favicon.png"), [0x89, b'P', b'N', b'G']).unwrap();
    std::fs::write(dir.join(".stamp"), "hash").unwrap();
    if with_redoc {
        std::fs::write(dir.join("vendor/redoc.standalone.js"), "/* redoc */").unwrap();
    }
    std::fs::write(tmp.path().join("secret.txt"), "TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), dir.join("link.txt")).unwrap();
    let dir = dir.display().to_string();
    (tmp, dir)
}

fn assert_secured(headers: &HeaderMap) {
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
}

both_dbs!(
    client_route_when_no_extension_then_index_html_no_cache,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(true);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        for path in ["/", "/sandboxes", "/sandboxes/sbx_1", "/login"] {
            let (status, headers, body) = get_raw(&app, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(body.contains("SPA"), "{path}: {body}");
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
            assert_secured(&headers);
        }
    }
);

both_dbs!(
    hashed_asset_when_served_then_immutable_and_typed,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(true);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        let (status, headers, body) = get_raw(&app, "/_app/immutable/app.1234.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "console.log(1)");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_secured(&headers);
        let (status, headers, _) = get_raw(&app, "/favicon.png").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "image/png");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    }
);

both_dbs!(
    asset_when_missing_then_404_not_index,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(true);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        let (status, headers, body) = get_raw(&app, "/_app/immutable/gone.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("SPA"));
        assert_secured(&headers);
    }
);

both_dbs!(
    path_when_traversal_hidden_or_symlink_out_then_refused,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(true);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/_app/..%2f..%2fsecret.txt",
            "/_app/%2e%2e/%2e%2e/secret.txt",
            "/..%5csecret.txt",
            "/link.txt",
            "/.stamp",
        ] {
            let (status, _, body) = get_raw(&app, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert!(
                !body.contains("TOP-SECRET") && !body.contains("hash"),
                "{path}: {body}"
            );
        }
    }
);

both_dbs!(
    api_paths_when_unknown_then_json_404_not_dashboard,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(true);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        let (status, answer) = app
            .request(Method::GET, "/v1/nothing-here", None, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(answer["error"]["code"], "not_found", "{answer}");
        // The E2B API's own envelope, not the dashboard.
        let (status, answer) = app
            .request(Method::GET, "/e2b/nothing-here", None, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(answer["code"], 404, "{answer}");
        let (status, answer) = app.request(Method::POST, "/sandboxes", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(answer["error"]["code"], "not_found");
    }
);

both_dbs!(
    dashboard_when_dir_missing_then_build_hint_page,
    |kind: Kind| async move {
        let app = app(
            kind,
            &[("CP_DASHBOARD_DIR", "/nonexistent/wrenn-dashboard")],
        )
        .await;
        let (status, headers, body) = get_raw(&app, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("dashboard/scripts/build.sh"), "{body}");
        assert!(!body.contains("<script"), "self-contained: {body}");
        assert_secured(&headers);
        let (status, _, _) = get_raw(&app, "/_app/immutable/app.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, headers, body) = get_raw(&app, "/docs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("/openapi.json") && !body.contains("<script"),
            "{body}"
        );
        assert_secured(&headers);
    }
);

both_dbs!(
    docs_when_redoc_installed_then_local_bundle_only,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(true);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        let (status, headers, body) = get_raw(&app, "/docs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains(r#"<script src="/vendor/redoc.standalone.js"></script>"#),
            "{body}"
        );
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "no other origin: {body}"
        );
        assert_secured(&headers);
        let (status, headers, body) = get_raw(&app, "/vendor/redoc.standalone.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "/* redoc */");
        assert_secured(&headers);
    }
);

both_dbs!(
    docs_when_redoc_missing_then_points_at_openapi_json,
    |kind: Kind| async move {
        let (_tmp, dir) = built_dashboard(false);
        let app = app(kind, &[("CP_DASHBOARD_DIR", dir.as_str())]).await;
        let (status, _, body) = get_raw(&app, "/docs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("/openapi.json") && !body.contains("<script"),
            "{body}"
        );
    }
);
