//! `keys create|list|revoke`: the team's API keys.

use serde::Serialize;

use super::{CommandError, Context};
use crate::cli::KeysCommand;
use crate::client::{ClientError, Credential};
use crate::render;

#[derive(Serialize)]
struct CreateKey<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_secs: Option<u64>,
}

pub async fn run(ctx: &Context, cmd: KeysCommand) -> Result<u8, CommandError> {
    match cmd {
        KeysCommand::Create {
            name,
            expires_in,
            save,
        } => {
            let body = CreateKey {
                name: &name,
                expires_in_secs: expires_in,
            };
            let answer = ctx.client.post("/v1/keys", &body).await?;
            if save {
                let Some(key) = answer["key"].as_str() else {
                    let url = ctx.client.base_url().to_owned();
                    return Err(ClientError::MissingField { url, field: "key" }.into());
                };
                let mut file = ctx.file.clone();
                file.api_url = Some(ctx.settings.api_url.clone());
                file.set_credential(Credential::ApiKey(key.to_owned()), None);
                ctx.store.save(&file)?;
            }
            if !ctx.json {
                let note = if save {
                    "; saved as this CLI's credential"
                } else {
                    ""
                };
                eprintln!(
                    "Key {} created; it is shown only now{note}",
                    render::cell(&answer, "id")
                );
            }
            ctx.output(&answer, |a| Some(render::cell(a, "key")))?;
        }
        KeysCommand::List => {
            let answer = ctx.client.get("/v1/keys", &[]).await?;
            ctx.output(&answer, |a| {
                let rows: Vec<Vec<String>> = a["keys"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|k| {
                        [
                            "id",
                            "name",
                            "prefix",
                            "created_at",
                            "expires_at",
                            "last_used_at",
                            "revoked_at",
                        ]
                        .iter()
                        .map(|f| render::cell(k, f))
                        .collect()
                    })
                    .collect();
                let headers = [
                    "ID",
                    "NAME",
                    "PREFIX",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED",
                    "REVOKED",
                ];
                Some(render::table(&headers, &rows))
            })?;
        }
        KeysCommand::Revoke { id } => {
            let answer = ctx.client.delete(&format!("/v1/keys/{id}"), &[]).await?;
            ctx.output(&answer, |_| Some(format!("Revoked key {id}")))?;
        }
    }
    Ok(0)
}
