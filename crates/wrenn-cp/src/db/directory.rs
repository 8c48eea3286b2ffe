//! The platform directory: every user and every team, in pages, for the
//! platform admin pages. Pages run newest first on `(created_at, id)`.
use sqlx::{any::AnyRow, Row};

use super::{get_bool, users::UserRow, Db};

/// One team as the admin directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryTeam {
    pub id: String,
    pub name: String,
    pub personal: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub member_count: i64,
}

/// What page of the directory to read.
#[derive(Debug, Clone, Default)]
pub struct DirectoryPage<'a> {
    /// `(created_at, id)` of the last row of the previous page.
    pub before: Option<(i64, String)>,
    /// Case-insensitive substring of the email or name (users), or of the
    /// name or id (teams).
    pub search: Option<&'a str>,
    pub limit: i64,
}

/// A `LIKE` pattern matching `text` anywhere, lower-cased, with `%`, `_`
/// and `\` escaped (the queries say `ESCAPE '\'`).
pub(super) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub async fn users(db: &Db, page: &DirectoryPage<'_>) -> Result<Vec<UserRow>, sqlx::Error> {
    let (at, id) = page.before.clone().unwrap_or((i64::MAX, String::new()));
    let search = if page.search.is_some() {
        "AND (LOWER(email) LIKE $4 ESCAPE '\\' OR LOWER(name) LIKE $4 ESCAPE '\\') "
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, email, name, password_hash, is_admin, created_at FROM users \
         WHERE (created_at < $1 OR (created_at = $1 AND id < $2)) {search}\
         ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let mut query = sqlx::query(&sql).bind(at).bind(id).bind(page.limit);
    if let Some(text) = page.search {
        query = query.bind(contains_pattern(text));
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter().map(user_row).collect()
}

pub async fn teams(db: &Db, page: &DirectoryPage<'_>) -> Result<Vec<DirectoryTeam>, sqlx::Error> {
    let (at, id) = page.before.clone().unwrap_or((i64::MAX, String::new()));
    let search = if page.search.is_some() {
        "AND (LOWER(t.name) LIKE $4 ESCAPE '\\' OR LOWER(t.id) LIKE $4 ESCAPE '\\') "
    } else {
        ""
    };
    let sql = format!(
        "SELECT t.id, t.name, t.personal, t.created_at, \
         (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS member_count \
         FROM teams t \
         WHERE (t.created_at < $1 OR (t.created_at = $1 AND t.id < $2)) {search}\
         ORDER BY t.created_at DESC, t.id DESC LIMIT $3"
    );
    let mut query = sqlx::query(&sql).bind(at).bind(id).bind(page.limit);
    if let Some(text) = page.search {
        query = query.bind(contains_pattern(text));
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter().map(team_row).collect()
}

fn user_row(row: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: get_bool(row, "is_admin")?,
        created_at: row.try_get("created_at")?,
    })
}

fn team_row(row: &AnyRow) -> Result<DirectoryTeam, sqlx::Error> {
    Ok(DirectoryTeam {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        personal: get_bool(row, "personal")?,
        created_at: row.try_get("created_at")?,
        member_count: row.try_get("member_count")?,
    })
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn contains_pattern_when_wildcards_then_escaped_and_lowered() {
        assert_eq!(contains_pattern("Ada_1%\\"), "%ada\\_1\\%\\\\%");
    }
}
