//! `host list|get|create|token|drain|delete|tag|untag` (docs/hosts.md).

use serde_json::json;

use super::{CommandError, Context};
use crate::cli::HostCommand;
use crate::client::Answer;
use crate::render;
use crate::responses::{CreatedHost, Host, HostList, IssuedToken, Tags};

pub async fn run(ctx: &Context, cmd: HostCommand) -> Result<u8, CommandError> {
    match cmd {
        HostCommand::List => {
            let answer: Answer<HostList> = ctx.client.get_as("/v1/hosts", &[]).await?;
            ctx.output_as(&answer, |list| {
                let rows: Vec<Vec<String>> = list
                    .hosts
                    .iter()
                    .map(|h| {
                        vec![
                            h.id.clone(),
                            h.name.clone(),
                            h.status.clone(),
                            h.draining.to_string(),
                            h.address.clone(),
                            render::cell_of(&h.team_id),
                            render::cell_of(&h.tags),
                            render::cell_of(&h.last_heartbeat_at),
                        ]
                    })
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
            let answer: Answer<Host> = ctx.client.get_as(&format!("/v1/hosts/{id}"), &[]).await?;
            ctx.output_as(&answer, |_| Some(render::fields(&answer.raw)))?;
        }
        HostCommand::Create {
            name,
            byoc,
            tag,
            tls_fingerprint,
        } => {
            let body = json!({ "name": name, "byoc": byoc, "tags": tag, "tls_fingerprint": tls_fingerprint });
            let answer: Answer<CreatedHost> = ctx.client.post_as("/v1/hosts", &body).await?;
            ctx.output_as(&answer, |a| Some(registration_hint(&a.token, &a.host.id)))?;
        }
        HostCommand::Token { id } => {
            let answer: Answer<IssuedToken> = ctx
                .client
                .post_empty_as(&format!("/v1/hosts/{id}/token"))
                .await?;
            ctx.output_as(&answer, |t| Some(registration_hint(t, id.as_str())))?;
        }
        HostCommand::Drain { id, off } => {
            let answer: Answer<Host> = ctx
                .client
                .patch_as(&format!("/v1/hosts/{id}"), &json!({ "draining": !off }))
                .await?;
            ctx.output_as(&answer, |_| Some(render::fields(&answer.raw)))?;
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
            let answer: Answer<Tags> = ctx
                .client
                .post_as(&format!("/v1/hosts/{id}/tags"), &json!({ "tags": tags }))
                .await?;
            ctx.output_as(&answer, |t| Some(render::cell_of(&t.tags)))?;
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
fn registration_hint(token: &IssuedToken, id: &str) -> String {
    format!(
        "host {}\nregistration token (shown once, expires {}):\n  {}\n\nOn the host, run:\n  AGENT_LISTEN_ADDR=<ip:port> wrenn-agent serve --register {} --address <ip:port> --cp-url <this control plane's URL>",
        id, token.token_expires_at, token.registration_token, token.registration_token,
    )
}
