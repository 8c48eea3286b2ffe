//! The JSON shape of a template, shared by `/v1/templates` and the
//! sandbox snapshot routes (`api::sandboxes::snapshots`), so that neither
//! imports the other.
use serde::Serialize;

use super::rfc3339;
use crate::db::templates::TemplateRow;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub name: String,
    pub builtin: bool,
    /// Owner team; null for built-ins.
    pub team_id: Option<String>,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_mb: Option<i64>,
    /// Sandboxes of this shape start by restoring a memory snapshot.
    pub has_memory_snapshot: bool,
    pub created_at: String,
    pub source_sandbox_id: Option<String>,
}

impl From<TemplateRow> for Template {
    fn from(row: TemplateRow) -> Self {
        Self {
            name: row.name,
            builtin: row.builtin,
            team_id: row.team_id,
            vcpus: row.vcpus,
            memory_mb: row.memory_mb,
            disk_mb: row.disk_mb,
            has_memory_snapshot: row.has_memory_snapshot,
            created_at: rfc3339(row.created_at),
            source_sandbox_id: row.source_sandbox_id,
        }
    }
}
