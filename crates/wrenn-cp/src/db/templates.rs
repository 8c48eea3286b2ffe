//! Template records: built-ins (no team, visible to all) and team templates
//! made by snapshotting a sandbox. `image` is the template's name on hosts.
use sqlx::{any::AnyRow, Row};

use super::{get_bool, new_id, now_ms, Db};

/// Templates every deployment has (built by `deploy/setup-host.sh`):
/// `code-interpreter-v1` is what the `e2b-code-interpreter` SDK creates by
/// default (Jupyter kernels; numpy, pandas and matplotlib want the memory).
pub const BUILTINS: &[(&str, i64, i64)] = &[("base", 1, 512), ("code-interpreter-v1", 2, 1024)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRow {
    pub id: String,
    pub team_id: Option<String>,
    pub name: String,
    pub image: String,
    pub builtin: bool,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_mb: Option<i64>,
    pub has_memory_snapshot: bool,
    pub source_sandbox_id: Option<String>,
    pub created_at: i64,
    /// The host holding a team template's files; `None` for built-ins,
    /// which every host has.
    pub host_id: Option<String>,
}

const COLUMNS: &str = "id, team_id, name, image, builtin, vcpus, memory_mb, disk_mb, \
                       has_memory_snapshot, source_sandbox_id, created_at, host_id";

fn row(row: &AnyRow) -> Result<TemplateRow, sqlx::Error> {
    Ok(TemplateRow {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        name: row.try_get("name")?,
        image: row.try_get("image")?,
        builtin: get_bool(row, "builtin")?,
        vcpus: row.try_get("vcpus")?,
        memory_mb: row.try_get("memory_mb")?,
        disk_mb: row.try_get("disk_mb")?,
        has_memory_snapshot: get_bool(row, "has_memory_snapshot")?,
        source_sandbox_id: row.try_get("source_sandbox_id")?,
        created_at: row.try_get("created_at")?,
        host_id: row.try_get("host_id")?,
    })
}

/// Inserts the built-in templates that are missing (start-up; idempotent).
pub async fn register_builtins(db: &Db) -> Result<(), sqlx::Error> {
    for (name, vcpus, memory_mb) in BUILTINS {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM templates WHERE image = $1")
                .bind(*name)
                .fetch_optional(&db.pool)
                .await?;
        if exists.is_some() {
            continue;
        }
        let result = sqlx::query(&format!(
            "INSERT INTO templates ({COLUMNS}) VALUES ($1, NULL, $2, $2, 1, $3, $4, NULL, 0, NULL, $5, NULL)"
        ))
        .bind(new_id("tpl_"))
        .bind(*name)
        .bind(*vcpus)
        .bind(*memory_mb)
        .bind(now_ms())
        .execute(&db.pool)
        .await;
        // Another replica starting at the same moment may have won the race.
        if let Err(err) = result {
            if !super::is_unique_violation(&err) {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// A template `team_id` may use: its own of that name first, else a built-in.
pub async fn resolve(
    db: &Db,
    team_id: &str,
    name: &str,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE name = $1 AND (team_id = $2 OR team_id IS NULL) \
         ORDER BY builtin ASC LIMIT 1"
    ))
    .bind(name)
    .bind(team_id)
    .fetch_optional(&db.pool)
    .await?;
    rows.as_ref().map(row).transpose()
}

/// Built-ins and the team's own, by name.
pub async fn list(db: &Db, team_id: &str) -> Result<Vec<TemplateRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE (team_id = $1 OR team_id IS NULL) AND hidden = 0 \
         ORDER BY name, created_at"
    ))
    .bind(team_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(row).collect()
}

pub async fn insert(db: &Db, template: &TemplateRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO templates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&template.id)
    .bind(&template.team_id)
    .bind(&template.name)
    .bind(&template.image)
    .bind(super::flag(template.builtin))
    .bind(template.vcpus)
    .bind(template.memory_mb)
    .bind(template.disk_mb)
    .bind(super::flag(template.has_memory_snapshot))
    .bind(&template.source_sandbox_id)
    .bind(template.created_at)
    .bind(&template.host_id)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// The host images of every recorded template (any team, any host).
pub async fn images(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT image FROM templates")
        .fetch_all(&db.pool)
        .await
}

/// Drops the team templates whose files were on a deleted host. One that
/// another host holds a copy of (`template_hosts`) stays, made by that
/// host from now on.
pub async fn delete_on_host(db: &Db, host_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE templates SET host_id = (SELECT th.host_id FROM template_hosts th \
         WHERE th.template_id = templates.id AND th.host_id <> $1 \
         ORDER BY th.created_at, th.host_id LIMIT 1) \
         WHERE host_id = $1 AND builtin = 0 AND EXISTS (SELECT 1 FROM template_hosts th \
         WHERE th.template_id = templates.id AND th.host_id <> $1)",
    )
    .bind(host_id)
    .execute(&db.pool)
    .await?;
    sqlx::query("DELETE FROM templates WHERE host_id = $1 AND builtin = 0")
        .bind(host_id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM templates WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// A template row `team_id` names `name` exactly, hidden or not.
pub async fn by_name(
    db: &Db,
    team_id: &str,
    name: &str,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE team_id = $1 AND name = $2"
    ))
    .bind(team_id)
    .bind(name)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM templates WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

/// Inserts a row left out of lists (a build-cache entry or an old version).
pub async fn insert_hidden(db: &Db, template: &TemplateRow) -> Result<(), sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    insert_on(&mut conn, template, true).await
}

/// Points `(team, name, tag)` at `(template id, build id)`, adding the
/// tag or moving it.
async fn upsert_tag(
    conn: &mut sqlx::AnyConnection,
    (team_id, name, tag): (&str, &str, &str),
    (template_id, build_id): (&str, Option<&str>),
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO template_tags (team_id, name, tag, template_id, build_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (team_id, name, tag) \
         DO UPDATE SET template_id = $4, build_id = $5, updated_at = $6",
    )
    .bind(team_id)
    .bind(name)
    .bind(tag)
    .bind(template_id)
    .bind(build_id)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

async fn insert_on(
    conn: &mut sqlx::AnyConnection,
    template: &TemplateRow,
    hidden: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO templates ({COLUMNS}, hidden) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&template.id)
    .bind(&template.team_id)
    .bind(&template.name)
    .bind(&template.image)
    .bind(super::flag(template.builtin))
    .bind(template.vcpus)
    .bind(template.memory_mb)
    .bind(template.disk_mb)
    .bind(super::flag(template.has_memory_snapshot))
    .bind(&template.source_sandbox_id)
    .bind(template.created_at)
    .bind(&template.host_id)
    .bind(super::flag(hidden))
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// Whether the team's template `name` was made by builds (it has tags),
/// so that a build may register a new version of it.
pub async fn has_tags(db: &Db, team_id: &str, name: &str) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM template_tags WHERE team_id = $1 AND name = $2")
            .bind(team_id)
            .bind(name)
            .fetch_one(&db.pool)
            .await?;
    Ok(n > 0)
}

/// One tag of a built template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub tag: String,
    pub template_id: String,
    pub build_id: Option<String>,
    pub updated_at: i64,
}

/// Points each of `tags` of the team's `name` at `to`'s version (added,
/// or moved from the version it pointed at), in one transaction.
pub async fn set_tags(
    db: &Db,
    team_id: &str,
    name: &str,
    tags: &[&str],
    to: &TagRow,
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let now = now_ms();
    for tag in tags {
        let target = (to.template_id.as_str(), to.build_id.as_deref());
        upsert_tag(&mut tx, (team_id, name, tag), target, now).await?;
    }
    tx.commit().await
}

/// Removes `tags` of the team's `name`; answers how many there were.
pub async fn delete_tags(
    db: &Db,
    team_id: &str,
    name: &str,
    tags: &[&str],
) -> Result<u64, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let mut removed = 0;
    for tag in tags {
        removed +=
            sqlx::query("DELETE FROM template_tags WHERE team_id = $1 AND name = $2 AND tag = $3")
                .bind(team_id)
                .bind(name)
                .bind(tag)
                .execute(&mut *tx)
                .await?
                .rows_affected();
    }
    tx.commit().await?;
    Ok(removed)
}

/// The tags of the team's template `name`, by tag.
pub async fn tags(db: &Db, team_id: &str, name: &str) -> Result<Vec<TagRow>, sqlx::Error> {
    sqlx::query(
        "SELECT tag, template_id, build_id, updated_at FROM template_tags \
         WHERE team_id = $1 AND name = $2 ORDER BY tag",
    )
    .bind(team_id)
    .bind(name)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| {
        Ok(TagRow {
            tag: r.try_get("tag")?,
            template_id: r.try_get("template_id")?,
            build_id: r.try_get("build_id")?,
            updated_at: r.try_get("updated_at")?,
        })
    })
    .collect()
}

/// `name` ([`resolve`]) or `name:tag` ([`resolve_tag`]).
pub async fn resolve_ref(
    db: &Db,
    team_id: &str,
    template: &wrenn_types::TemplateRef,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    match &template.tag {
        Some(tag) => resolve_tag(db, team_id, template.name.as_str(), tag.as_str()).await,
        None => resolve(db, team_id, template.name.as_str()).await,
    }
}

/// `name:tag` of the team → the version it points at.
pub async fn resolve_tag(
    db: &Db,
    team_id: &str,
    name: &str,
    tag: &str,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {} FROM templates t JOIN template_tags g ON g.template_id = t.id \
         WHERE g.team_id = $1 AND g.name = $2 AND g.tag = $3",
        COLUMNS
            .split(", ")
            .map(|c| format!("t.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(team_id)
    .bind(name)
    .bind(tag)
    .fetch_optional(&db.pool)
    .await?
    .as_ref()
    .map(row)
    .transpose()
}

/// A build's new version of `name`, registered in one transaction.
#[derive(Debug, Clone)]
pub enum Version<'a> {
    /// A new row (its `name` is ignored: it takes the plain name).
    New(&'a TemplateRow),
    /// An existing row of the team (a cached step's snapshot, an older
    /// version) becomes the plain-named version again, at this size.
    Existing {
        id: &'a str,
        vcpus: i64,
        memory_mb: i64,
    },
}

/// Makes `version` the team's template `name` and points tags `tag` and
/// `latest` at it: the row that held the plain name (if another) becomes
/// the hidden `<name>@<build id>`. Answers the version's id.
pub async fn register_version(
    db: &Db,
    team_id: &str,
    name: &str,
    tag: &str,
    build_id: &str,
    version: Version<'_>,
) -> Result<String, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT id FROM templates WHERE team_id = $1 AND name = $2")
            .bind(team_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let version_id = match version {
        Version::New(r) => r.id.clone(),
        Version::Existing { id, .. } => id.to_owned(),
    };
    if let Some(current) = current.filter(|c| *c != version_id) {
        let made_by: Option<String> = sqlx::query_scalar(
            "SELECT id FROM template_builds WHERE template_id = $1 ORDER BY created_at LIMIT 1",
        )
        .bind(&current)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("UPDATE templates SET name = $2, hidden = 1 WHERE id = $1")
            .bind(&current)
            .bind(format!(
                "{name}@{}",
                made_by.unwrap_or_else(|| current.clone())
            ))
            .execute(&mut *tx)
            .await?;
    }
    match version {
        Version::New(r) => {
            let r = TemplateRow {
                name: name.to_owned(),
                ..r.clone()
            };
            insert_on(&mut tx, &r, false).await?;
        }
        Version::Existing {
            id,
            vcpus,
            memory_mb,
        } => {
            sqlx::query(
                "UPDATE templates SET name = $2, hidden = 0, vcpus = $3, memory_mb = $4 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(vcpus)
            .bind(memory_mb)
            .execute(&mut *tx)
            .await?;
        }
    }
    let now = now_ms();
    let mut tags = vec![tag];
    if tag != "latest" {
        tags.push("latest");
    }
    for tag in tags {
        let target = (version_id.as_str(), Some(build_id));
        upsert_tag(&mut tx, (team_id, name, tag), target, now).await?;
    }
    tx.commit().await?;
    Ok(version_id)
}

/// Every version of the team's built template `name`: the plain-named
/// row, the hidden `<name>@...` rows and whatever its tags point at.
pub async fn versions(db: &Db, team_id: &str, name: &str) -> Result<Vec<TemplateRow>, sqlx::Error> {
    // Names hold `_`, LIKE's one-character wildcard: escaped.
    let pattern = format!("{}@%", name.replace('_', "\\_"));
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM templates WHERE team_id = $1 AND builtin = 0 AND (name = $2 \
         OR name LIKE $3 ESCAPE '\\' \
         OR id IN (SELECT template_id FROM template_tags WHERE team_id = $1 AND name = $2))"
    ))
    .bind(team_id)
    .bind(name)
    .bind(&pattern)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(row)
    .collect()
}
