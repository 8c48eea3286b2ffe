//! `template list|snapshot|delete` and `audit`; the build commands are in
//! [`super::build`].

use serde_json::json;

use super::{build, CommandError, Context};
use crate::cli::{AuditArgs, TemplateCommand};
use crate::client::Answer;
use crate::render;
use crate::responses::{AuditPage, Template, TemplateList};

pub async fn run(ctx: &Context, cmd: TemplateCommand) -> Result<u8, CommandError> {
    match cmd {
        TemplateCommand::List => {
            let answer: Answer<TemplateList> = ctx.client.get_as("/v1/templates", &[]).await?;
            ctx.output_as(&answer, |list| {
                let rows: Vec<Vec<String>> = list
                    .templates
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.to_string(),
                            t.builtin.to_string(),
                            t.vcpus.to_string(),
                            t.memory_mb.to_string(),
                            render::cell_of(&t.disk_mb),
                            t.has_memory_snapshot.to_string(),
                            t.created_at.clone(),
                        ]
                    })
                    .collect();
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
            let answer: Answer<Template> = ctx
                .client
                .post_as(&format!("/v1/sandboxes/{id}/snapshot"), &body)
                .await?;
            ctx.output_as(&answer, |t| Some(t.name.to_string()))?;
        }
        TemplateCommand::Delete { name } => {
            let answer = ctx
                .client
                .delete(&format!("/v1/templates/{name}"), &[])
                .await?;
            ctx.output(&answer, |_| None)?;
        }
        TemplateCommand::Build(args) => return build::build(ctx, args).await,
        TemplateCommand::Builds { limit } => return build::list(ctx, limit).await,
        TemplateCommand::BuildStatus { id } => return build::status(ctx, id).await,
        TemplateCommand::BuildLogs { id, follow, offset } => {
            return build::logs(ctx, id, follow, offset).await
        }
        TemplateCommand::BuildCancel { id } => return build::cancel(ctx, id).await,
        TemplateCommand::Tags { name } => return build::tags(ctx, name).await,
        TemplateCommand::Tag { source, tags } => return build::tag(ctx, source, tags).await,
        TemplateCommand::Untag { name, tags } => return build::untag(ctx, name, tags).await,
    }
    Ok(0)
}

pub async fn audit(ctx: &Context, args: AuditArgs) -> Result<u8, CommandError> {
    let query: Vec<(String, String)> = args
        .limit
        .map(|l| ("limit".to_owned(), l.to_string()))
        .into_iter()
        .collect();
    let answer: Answer<AuditPage> = ctx.client.get_as("/v1/audit", &query).await?;
    ctx.output_as(&answer, |page| {
        let rows: Vec<Vec<String>> = page
            .events
            .iter()
            .map(|e| {
                vec![
                    e.at.clone(),
                    e.actor_type.clone(),
                    e.actor_id.clone(),
                    e.action.clone(),
                    e.resource_type.clone(),
                    e.resource_id.clone(),
                    e.outcome.clone(),
                ]
            })
            .collect();
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
