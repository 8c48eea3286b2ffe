//! Serving this host's template images to other agents
//! (docs/architecture.md, "Templates on every host"):
//! `GET /templates/{name}/manifest` and `GET /templates/{name}/files/{file}`,
//! streamed. The bearer secret is never shown to a peer; each request
//! carries a grant the control plane signed with this agent's secret for
//! one template and a short time (`X-Template-Grant: <expires_ms>.<mac>`,
//! [`wrenn_types::host_wire::template_grant_mac`]). Only files the current
//! version's manifest lists are served.
use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use subtle::ConstantTimeEq;
use tokio::io::AsyncReadExt;

use super::Secret;
use crate::sandbox::{
    template_fetch::{local_manifest, GRANT_HEADER},
    template_manifest::Manifest,
    TemplateCatalog, TemplateName,
};

/// Longest a grant may be valid for, whatever it says (clock skew aside).
pub const MAX_GRANT_MS: u64 = 15 * 60 * 1000;

#[derive(Clone)]
struct Served {
    catalog: TemplateCatalog,
    secret: Secret,
}

/// The routes, checking grants with `secret`.
pub fn routes(catalog: TemplateCatalog, secret: Secret) -> Router {
    Router::new()
        .route("/templates/{name}/manifest", get(manifest))
        .route("/templates/{name}/files/{file}", get(file))
        .with_state(Served { catalog, secret })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether `grant` (`<expires_ms>.<mac>`) lets its bearer read `template`
/// at `now_ms`.
pub fn grant_allows(secret: &Secret, template: &str, grant: &str, now_ms: u64) -> bool {
    let Some((expires, mac)) = grant.split_once('.') else {
        return false;
    };
    let Ok(expires_ms) = expires.parse::<u64>() else {
        return false;
    };
    if expires_ms < now_ms || expires_ms > now_ms.saturating_add(MAX_GRANT_MS) {
        return false;
    }
    let want = wrenn_types::host_wire::template_grant_mac(secret.expose(), template, expires_ms);
    bool::from(want.as_bytes().ct_eq(mac.as_bytes()))
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (status, message).into_response()
}

/// The template's current manifest, once the grant checks out.
async fn authorised(
    served: &Served,
    name: &str,
    headers: &HeaderMap,
) -> Result<(Manifest, PathBuf), Response> {
    let grant = headers
        .get(GRANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !grant_allows(&served.secret, name, grant, now_ms()) {
        tracing::warn!(
            template = name,
            "refused a template read without a valid grant"
        );
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or invalid template grant",
        ));
    }
    let not_found = || refuse(StatusCode::NOT_FOUND, "no such template here");
    let name: TemplateName = name.parse().map_err(|_| not_found())?;
    let catalog = served.catalog.clone();
    let found = tokio::task::spawn_blocking(move || {
        let dir = catalog.version_dir(&name)?;
        Some(local_manifest(&catalog, &name)?.map(|m| (m, dir)))
    })
    .await
    .ok()
    .flatten();
    match found {
        Some(Ok(found)) => Ok(found),
        Some(Err(err)) => {
            tracing::error!(error = %err, "cannot hash a template image");
            Err(refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the template",
            ))
        }
        None => Err(not_found()),
    }
}

async fn manifest(
    State(served): State<Served>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    match authorised(&served, &name, &headers).await {
        Ok((manifest, _)) => manifest.text().into_response(),
        Err(refused) => refused,
    }
}

async fn file(
    State(served): State<Served>,
    Path((name, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let (manifest, dir) = match authorised(&served, &name, &headers).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let Some(entry) = manifest.file(&file) else {
        return refuse(StatusCode::NOT_FOUND, "no such file in the template");
    };
    let path = dir.join(&entry.name);
    let opened = match tokio::fs::File::open(&path).await {
        Ok(opened) => opened,
        Err(err) => {
            tracing::error!(path = %path.display(), error = %err, "cannot open a template file");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the template",
            );
        }
    };
    let chunks = futures_util::stream::unfold(opened, |mut f| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    Response::builder()
        .header("content-length", entry.size)
        .header("content-type", "application/octet-stream")
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| refuse(StatusCode::INTERNAL_SERVER_ERROR, "cannot answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "0123456789abcdef0123";

    fn grant(template: &str, expires_ms: u64) -> String {
        let mac = wrenn_types::host_wire::template_grant_mac(RAW, template, expires_ms);
        format!("{expires_ms}.{mac}")
    }

    #[test]
    fn grant_allows_when_signed_for_it_and_fresh_then_true() {
        let secret = Secret::new(RAW).expect("secret");
        assert!(grant_allows(&secret, "tm-a", &grant("tm-a", 2_000), 1_000));
    }

    #[test]
    fn grant_allows_when_other_template_expired_or_forged_then_false() {
        let secret = Secret::new(RAW).expect("secret");
        let cases = [
            ("tm-b", grant("tm-a", 2_000), 1_000, "other template"),
            ("tm-a", grant("tm-a", 999), 1_000, "expired"),
            (
                "tm-a",
                grant("tm-a", 1_000 + MAX_GRANT_MS + 1),
                1_000,
                "too long",
            ),
            ("tm-a", format!("2000.{}", "0".repeat(64)), 1_000, "forged"),
            ("tm-a", "2000".to_owned(), 1_000, "no mac"),
            ("tm-a", String::new(), 1_000, "empty"),
        ];
        for (template, grant, now, case) in cases {
            assert!(!grant_allows(&secret, template, &grant, now), "{case}");
        }
        let other = Secret::new("another-secret-0123456").expect("secret");
        assert!(!grant_allows(&other, "tm-a", &grant("tm-a", 2_000), 1_000));
    }

    mod round_trip {
        //! A real fetch between two catalogs over a real listener.
        use super::*;
        use crate::{
            paths::DataDir,
            sandbox::template_fetch::{fetch, FetchSource, FetchTemplateError},
        };

        struct Peer {
            _dir: tempfile::TempDir,
            catalog: TemplateCatalog,
        }

        fn peer() -> Peer {
            let dir = tempfile::tempdir().expect("tempdir");
            let catalog = TemplateCatalog::new(&DataDir::new(dir.path()));
            std::fs::create_dir_all(catalog.images_dir()).expect("images");
            Peer { _dir: dir, catalog }
        }

        fn publish(catalog: &TemplateCatalog, name: &TemplateName) {
            let staged = catalog.stage(name).expect("stage");
            // Mostly zeros, as root disks are: the copy skips them.
            let mut disk = vec![0u8; 3 * 1024 * 1024 + 5];
            disk[1024 * 1024..1024 * 1024 + 4096].fill(7);
            std::fs::write(staged.rootfs(), disk).expect("rootfs");
            std::fs::write(staged.version_dir().join("start.json"), b"{}").expect("start");
            staged.publish().expect("publish");
        }

        /// Serves `catalog` on a local port; answers its base URL.
        async fn serve(catalog: TemplateCatalog) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let app = routes(catalog, Secret::new(RAW).expect("secret"));
            tokio::spawn(async move { axum::serve(listener, app).await });
            url
        }

        fn source(base_url: String, name: &str) -> FetchSource {
            FetchSource {
                base_url,
                grant: grant(name, now_ms() + 60_000),
            }
        }

        fn leftovers(catalog: &TemplateCatalog) -> Vec<String> {
            std::fs::read_dir(catalog.images_dir())
                .expect("images")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        }

        #[tokio::test]
        async fn fetch_when_granted_then_same_files_and_digest_here() {
            let (holder, fetcher) = (peer(), peer());
            let name: TemplateName = "tm-one".parse().expect("name");
            publish(&holder.catalog, &name);
            let want = local_manifest(&holder.catalog, &name)
                .expect("held")
                .expect("manifest");
            let url = serve(holder.catalog.clone()).await;
            let http = reqwest::Client::new();

            let fetched = fetch(
                &http,
                &fetcher.catalog,
                &name,
                &want.digest(),
                &source(url.clone(), "tm-one"),
            )
            .await
            .expect("fetch");

            assert_eq!(fetched.manifest, want);
            assert_eq!(fetched.bytes, want.total_bytes());
            let here = local_manifest(&fetcher.catalog, &name)
                .expect("published")
                .expect("manifest");
            assert_eq!(here.digest(), want.digest());
            assert!(fetcher.catalog.info(&name).is_some());
            // A second fetch finds it here and moves nothing.
            let again = fetch(
                &http,
                &fetcher.catalog,
                &name,
                &want.digest(),
                &source(url, "tm-one"),
            )
            .await
            .expect("again");
            assert_eq!(again.bytes, 0);
        }

        #[tokio::test]
        async fn fetch_when_a_file_was_tampered_with_then_refused_and_nothing_kept() {
            let (holder, fetcher) = (peer(), peer());
            let name: TemplateName = "tm-two".parse().expect("name");
            publish(&holder.catalog, &name);
            let want = local_manifest(&holder.catalog, &name)
                .expect("held")
                .expect("manifest");
            // Same size, other bytes: only the hash can tell.
            let dir = holder.catalog.version_dir(&name).expect("version");
            std::fs::write(dir.join("start.json"), b"[]").expect("tamper");
            let url = serve(holder.catalog.clone()).await;

            let result = fetch(
                &reqwest::Client::new(),
                &fetcher.catalog,
                &name,
                &want.digest(),
                &source(url, "tm-two"),
            )
            .await;

            assert!(
                matches!(&result, Err(FetchTemplateError::FileMismatch { name, .. }) if name == "start.json"),
                "{result:?}"
            );
            assert!(!fetcher.catalog.exists(&name));
            assert_eq!(leftovers(&fetcher.catalog), Vec::<String>::new());
        }

        #[tokio::test]
        async fn fetch_when_digest_differs_or_grant_wrong_then_refused() {
            let (holder, fetcher) = (peer(), peer());
            let name: TemplateName = "tm-three".parse().expect("name");
            publish(&holder.catalog, &name);
            let url = serve(holder.catalog.clone()).await;
            let http = reqwest::Client::new();

            let other_digest = "0".repeat(64);
            let result = fetch(
                &http,
                &fetcher.catalog,
                &name,
                &other_digest,
                &source(url.clone(), "tm-three"),
            )
            .await;
            assert!(
                matches!(result, Err(FetchTemplateError::DigestMismatch { .. })),
                "{result:?}"
            );

            // A grant for another template opens nothing.
            let result = fetch(
                &http,
                &fetcher.catalog,
                &name,
                &other_digest,
                &source(url, "tm-other"),
            )
            .await;
            assert!(
                matches!(&result, Err(FetchTemplateError::SourceStatus { status, .. }) if *status == StatusCode::UNAUTHORIZED),
                "{result:?}"
            );
            assert!(!fetcher.catalog.exists(&name));
            assert_eq!(leftovers(&fetcher.catalog), Vec::<String>::new());
        }
    }
}
