//! The database: one `sqlx::AnyPool` over SQLite (default, a file) or
//! PostgreSQL (`DATABASE_URL=postgres://...`), one migration history
//! (`crates/wrenn-cp/migrations/`) applied at start-up. Queries use only
//! portable SQL and `$N` placeholders, which both drivers accept.
pub mod accounts;
pub mod audit;
pub mod build_cache;
pub mod directory;
pub mod hosts;
pub mod idempotency;
pub mod keys;
pub mod plans;
pub mod pools;
pub mod sandbox_row;
pub mod sandboxes;
pub mod sessions;
pub mod teams;
pub mod template_builds;
pub mod template_hosts;
pub mod templates;
pub mod usage;
pub mod users;
pub mod webhooks;

use std::str::FromStr;

use sqlx::any::{AnyPoolOptions, AnyRow};

pub use sqlx::AnyPool;

#[derive(Debug, thiserror::Error)]
pub enum OpenDbError {
    #[error("cannot create the SQLite directory {0}")]
    Directory(String, #[source] std::io::Error),
    #[error("cannot make the database file {0} private to its owner")]
    Permissions(String, #[source] std::io::Error),
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// On SQLite, a pooled connection idle at least this long is pinged before
/// use (one that fails is replaced, unseen by the caller); PostgreSQL's are
/// pinged before every use (sqlx's default). One used more recently
/// answered a ping when it was returned, under this long ago: if the
/// database went away since, the next statement on it fails once and the
/// connection is dropped.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// The database handle shared by every request.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub kind: DbKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl Db {
    /// Connects (creating a SQLite file and its directory if needed) and
    /// applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, OpenDbError> {
        sqlx::any::install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else {
            DbKind::Postgres
        };
        let mut options = AnyPoolOptions::new().max_connections(16);
        if kind == DbKind::Sqlite {
            // sqlx pings every idle connection before handing it out
            // (`test_before_acquire`, on by default) and again when it comes
            // back (always): on SQLite each ping is a hand-off to the
            // connection's worker thread. Here the ping before use is spent
            // only on a connection idle long enough to have gone stale.
            // Measured (docs/performance.md): 1.08-1.22x list throughput on
            // SQLite, but 0.82x on PostgreSQL, which keeps sqlx's default.
            options = options
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IF_IDLE_FOR {
                            use sqlx::Connection;
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                });
        }
        let url = if kind == DbKind::Sqlite {
            prepare_sqlite(url)?
        } else {
            url.to_owned()
        };
        if kind == DbKind::Sqlite {
            // WAL + a busy timeout make one writer and many readers get
            // along instead of failing with SQLITE_BUSY; foreign keys are
            // off by default in SQLite. `synchronous = NORMAL` is WAL's
            // recommended setting: no fsync per commit (a power cut may lose
            // the last commits, never corrupt the file), which keeps a
            // create's few state writes off the disk's flush latency.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(
                        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                         PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await.map_err(OpenDbError::Connect)?;
        if kind == DbKind::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(OpenDbError::Connect)?;
        }
        if let Some(path) = sqlite_path(&url) {
            // WAL mode made `-wal` and `-shm` now; SQLite gives them the
            // file's mode, and this holds for files of older versions too.
            restrict_sqlite_files(path)?;
        }
        MIGRATOR.run(&pool).await.map_err(OpenDbError::Migrate)?;
        Ok(Self { pool, kind })
    }
}

/// The file of a SQLite URL (`None` for an in-memory database).
fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The database holds every email and password hash: its file, `-wal` and
/// `-shm` are the owner's only (0600), whoever started the control plane
/// and whatever its umask.
fn restrict_sqlite_files(path: &str) -> Result<(), OpenDbError> {
    use std::os::unix::fs::PermissionsExt;
    for file in [
        path.to_owned(),
        format!("{path}-wal"),
        format!("{path}-shm"),
    ] {
        match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(OpenDbError::Permissions(file, e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Creates the SQLite file's directory (0700) and the file (0600) if they
/// are missing, then lets the driver open it.
fn prepare_sqlite(url: &str) -> Result<String, OpenDbError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(path) = sqlite_path(url) {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| OpenDbError::Directory(parent.display().to_string(), e))?;
            }
        }
        // Made here, not by SQLite, so it never exists with the umask's mode.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| OpenDbError::Permissions(path.to_owned(), e))?;
        restrict_sqlite_files(path)?;
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A fresh random id with a readable prefix, e.g. `team_...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", crate::secret::random_token(20).to_lowercase())
}

/// An id that sorts after every id this process made before it, and after
/// those of earlier runs (it starts from the clock in microseconds): for
/// records read back in `(at, id)` order whose order within one
/// millisecond matters, such as a sandbox's state transitions.
pub fn new_ordered_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let mut last = LAST.load(Ordering::Relaxed);
    let sequence = loop {
        let next = last.saturating_add(1).max(now);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    // The random tail keeps ids of two processes writing at once distinct.
    format!(
        "{prefix}{sequence:016x}{}",
        crate::secret::random_token(8).to_lowercase()
    )
}

/// Reads a 0/1 flag column (booleans are stored as BIGINT: sqlx's Any
/// driver cannot decode SQLite's BOOLEAN).
pub fn get_bool(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    row.try_get::<i64, _>(column).map(|v| v != 0)
}

/// A flag as stored.
pub fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// A JSON text column into a value.
pub fn get_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Whether a failed statement broke a unique constraint.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl FromStr for DbKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => Err(format!("unknown database kind '{other}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ordered_id_when_made_in_a_burst_then_ascending() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_ordered_id("sev_")).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids
            .iter()
            .all(|id| id.starts_with("sev_") && id.len() == 4 + 16 + 8));
    }

    #[tokio::test]
    async fn open_when_fresh_sqlite_file_then_migrated_and_builtins_resolvable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/sub/wrenn.db", dir.path().display());
        let db = Db::open(&url).await.expect("open");
        templates::register_builtins(&db).await.expect("builtins");
        templates::register_builtins(&db).await.expect("idempotent");
        let base = templates::resolve(&db, "team_x", "base")
            .await
            .expect("query");
        assert_eq!(
            base.map(|t| (t.image, t.builtin)),
            Some(("base".into(), true))
        );
    }

    /// A pooled PostgreSQL connection whose server end went away while it
    /// sat idle is found out by the ping before use and replaced: the caller's statement
    /// succeeds. Needs `WRENN_TEST_POSTGRES_URL` (skipped without it).
    #[tokio::test]
    async fn pool_when_idle_connection_killed_by_server_then_replaced_unseen() {
        use sqlx::{Connection, Executor, PgConnection};
        let Some(admin) = std::env::var("WRENN_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
        else {
            eprintln!("skipped: set WRENN_TEST_POSTGRES_URL");
            return;
        };
        let name = format!(
            "wrenn_test_{}",
            crate::auth::random_token(16).to_lowercase()
        );
        let mut control = PgConnection::connect(&admin).await.expect("connect");
        control
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let db = Db::open(&format!("{base}/{name}")).await.expect("open");
        sqlx::query("SELECT 1")
            .execute(&db.pool)
            .await
            .expect("first");
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1) AS t",
        )
        .bind(&name)
        .fetch_one(&mut control)
        .await
        .expect("terminate the pool's connections");
        assert!(killed >= 1, "the pool held no connection");
        tokio::time::sleep(PING_IF_IDLE_FOR + std::time::Duration::from_millis(500)).await;
        let answered = sqlx::query("SELECT 1").execute(&db.pool).await;
        db.pool.close().await;
        control
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await
            .expect("drop database");
        answered.expect("the statement after the server closed the idle connection");
    }

    #[tokio::test]
    async fn open_when_sqlite_then_db_wal_shm_0600_and_new_dir_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("cp/wrenn.db");
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        let url = format!("sqlite://{}", db_path.display());
        let db = Db::open(&url).await.expect("open");
        sqlx::query("SELECT 1")
            .execute(&db.pool)
            .await
            .expect("query");
        assert_eq!(mode(&dir.path().join("cp")), 0o700);
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", db_path.display()));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        db.pool.close().await;
        // A file an older version left world-readable is closed on open.
        std::fs::set_permissions(&db_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let db = Db::open(&url).await.expect("reopen");
        assert_eq!(mode(&db_path), 0o600);
        db.pool.close().await;
    }
}
