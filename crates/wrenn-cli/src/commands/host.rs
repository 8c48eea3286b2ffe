//! `host list|get|create|token|drain|delete|tag|untag` (docs/hosts.md).

use serde_json::json;

use super::{CommandError, Context};
use crate::cli::HostCommand;
use crate::render;

pub async fn run(ctx: &Context, cmd: HostCommand) -> Result<u8, CommandError> {
    let one = |value: &serde_json::Value| Some(render::fields(value));
    match cmd {
        HostCommand::List => {
            let answer = ctx.client.get("/v1/hosts", &[]).await?;
            ctx.output(&answer, |a| {
                let fields = [
                    "id",
                    "name",
                    "status",
                    "draining",
                    "address",
                    "team_id",
                    "tags",
                    "last_heartbeat_at",
                ];
                let rows: Vec<Vec<String>> = a["hosts"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|h| fields.iter().map(|f| render::cell(h, f)).collect())
                    .collect();
                let headers = [
                    "ID",
                    "NAME",
                    "STATUS",
                    "DRAINING",
                    "ADDRESS",
                    "TEAM",
                    "TAGS",
                    "LAST HEARTBEAT",
                ];
                Some(render::table(&headers, &rows))
            })?;
        }
        HostCommand::Get { id } => {
            let answer = ctx.client.get(&format!("/v1/hosts/{id}"), &[]).await?;
            ctx.output(&answer, one)?;
        }
        HostCommand::Create {
            name,
            byoc,
            tag,
            tls_fingerprint,
        } => {
            let body = json!({ "name": name, "byoc": byoc, "tags": tag, "tls_fingerprint": tls_fingerprint });
            let answer = ctx.client.post("/v1/hosts", &body).await?;
            ctx.output(&answer, |a| Some(registration_hint(a, &a["host"]["id"])))?;
        }
        HostCommand::Token { id } => {
            let answer = ctx
                .client
                .post_empty(&format!("/v1/hosts/{id}/token"))
                .await?;
            ctx.output(&answer, |a| Some(registration_hint(a, &json!(id.as_str()))))?;
        }
        HostCommand::Drain { id, off } => {
            let answer = ctx
                .client
                .patch(&format!("/v1/hosts/{id}"), &json!({ "draining": !off }))
                .await?;
            ctx.output(&answer, one)?;
        }
        HostCommand::Delete { id, force } => {
            let query = [("force".to_owned(), force.to_string())];
            let answer = ctx
                .client
                .delete(&format!("/v1/hosts/{id}"), &query)
                .await?;
            ctx.output(&answer, |_| None)?;
        }
        HostCommand::Tag { id, tags } => {
            let answer = ctx
                .client
                .post(&format!("/v1/hosts/{id}/tags"), &json!({ "tags": tags }))
                .await?;
            ctx.output(&answer, |a| Some(render::cell(a, "tags")))?;
        }
        HostCommand::Untag { id, tag } => {
            let answer = ctx
                .client
                .delete(&format!("/v1/hosts/{id}/tags/{tag}"), &[])
                .await?;
            ctx.output(&answer, |_| None)?;
        }
    }
    Ok(0)
}

/// What an operator runs on the new host.
fn registration_hint(answer: &serde_json::Value, id: &serde_json::Value) -> String {
    format!(
        "host {}\nregistration token (shown once, expires {}):\n  {}\n\nOn the host, run:\n  AGENT_LISTEN_ADDR=<ip:port> wrenn-agent serve --register {} --address <ip:port> --cp-url <this control plane's URL>",
        id.as_str().unwrap_or_default(),
        render::cell(answer, "token_expires_at"),
        render::cell(answer, "registration_token"),
        render::cell(answer, "registration_token"),
    )
}
