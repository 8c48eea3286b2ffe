//! `template list|snapshot|delete` and `audit`.

use serde_json::json;

use super::{CommandError, Context};
use crate::cli::{AuditArgs, TemplateCommand};
use crate::render;

pub async fn run(ctx: &Context, cmd: TemplateCommand) -> Result<u8, CommandError> {
    match cmd {
        TemplateCommand::List => {
            let answer = ctx.client.get("/v1/templates", &[]).await?;
            ctx.output(&answer, |a| {
                let fields = [
                    "name",
                    "builtin",
                    "vcpus",
                    "memory_mb",
                    "disk_mb",
                    "has_memory_snapshot",
                    "created_at",
                ];
                let rows = rows(&a["templates"], &fields);
                let headers = [
                    "NAME",
                    "BUILTIN",
                    "VCPUS",
                    "MEMORY MB",
                    "DISK MB",
                    "MEMORY SNAPSHOT",
                    "CREATED",
                ];
                Some(render::table(&headers, &rows))
            })?;
        }
        TemplateCommand::Snapshot { id, name, memory } => {
            let body = json!({ "name": name, "memory": memory });
            let answer = ctx
                .client
                .post(&format!("/v1/sandboxes/{id}/snapshot"), &body)
                .await?;
            ctx.output(&answer, |a| Some(render::cell(a, "name")))?;
        }
        TemplateCommand::Delete { name } => {
            let answer = ctx
                .client
                .delete(&format!("/v1/templates/{name}"), &[])
                .await?;
            ctx.output(&answer, |_| None)?;
        }
    }
    Ok(0)
}

pub async fn audit(ctx: &Context, args: AuditArgs) -> Result<u8, CommandError> {
    let query: Vec<(String, String)> = args
        .limit
        .map(|l| ("limit".to_owned(), l.to_string()))
        .into_iter()
        .collect();
    let answer = ctx.client.get("/v1/audit", &query).await?;
    ctx.output(&answer, |a| {
        let fields = [
            "at",
            "actor_type",
            "actor_id",
            "action",
            "resource_type",
            "resource_id",
            "outcome",
        ];
        let rows = rows(&a["events"], &fields);
        let headers = [
            "AT",
            "ACTOR",
            "ACTOR ID",
            "ACTION",
            "RESOURCE",
            "RESOURCE ID",
            "OUTCOME",
        ];
        Some(render::table(&headers, &rows))
    })?;
    Ok(0)
}

fn rows(items: &serde_json::Value, fields: &[&str]) -> Vec<Vec<String>> {
    items
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| fields.iter().map(|f| render::cell(item, f)).collect())
        .collect()
}
