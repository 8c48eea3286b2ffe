//! One throw-away PostgreSQL database per test, created on the server named
//! by `WRENN_TEST_POSTGRES_URL` and dropped when the test ends (even when
//! it panics).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::io::Write;

use sqlx::{Connection, Executor, PgConnection};

pub const URL_VAR: &str = "WRENN_TEST_POSTGRES_URL";

/// The maintenance database URL, when configured.
pub fn admin_url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|v| !v.trim().is_empty())
}

/// Whether PostgreSQL tests can run. Without a server: panics under CI
/// (`CI` set), so that a misconfigured pipeline cannot pass silently, and
/// otherwise says the test was skipped.
pub fn available(test: &str) -> bool {
    if admin_url().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI is set but {URL_VAR} is not; PostgreSQL tests must run in CI"
    );
    // Straight to stderr: libtest would swallow `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "{test}: skipped: set {URL_VAR} (e.g. postgres://postgres:wrenn@127.0.0.1:5432/postgres)"
    );
    false
}

/// A database `wrenn_test_<random>` that lives as long as this value.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// The database's own URL.
    pub url: String,
}

impl TestDatabase {
    pub async fn create(admin_url: &str) -> Self {
        let name = format!(
            "wrenn_test_{}",
            wrenn_cp::auth::random_token(16).to_lowercase()
        );
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        Self {
            url: database_url(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for TestDatabase {
    /// Drop cannot await, and may run inside the test's runtime: a second
    /// runtime on its own thread drops the database, ending leftover
    /// connections of the test's pool (`WITH (FORCE)`, PostgreSQL 13+).
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url).await?;
                conn.execute(statement.as_str()).await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// `admin_url` with its database path replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}
