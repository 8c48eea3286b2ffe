//! `keys create|list|revoke`: the team's API keys.

use serde::Serialize;

use super::{CommandError, Context};
use crate::cli::KeysCommand;
use crate::client::{Answer, Credential};
use crate::render;
use crate::responses::{CreatedKey, KeyList};

#[derive(Serialize)]
struct CreateKey<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_secs: Option<u64>,
    /// Sent only when asked, so older control planes still accept the body.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    e2b: bool,
}

pub async fn run(ctx: &Context, cmd: KeysCommand) -> Result<u8, CommandError> {
    match cmd {
        KeysCommand::Create {
            name,
            expires_in,
            save,
            e2b,
        } => {
            let body = CreateKey {
                name: &name,
                expires_in_secs: expires_in,
                e2b,
            };
            let answer: Answer<CreatedKey> = ctx.client.post_as("/v1/keys", &body).await?;
            if save {
                let mut file = ctx.file.clone();
                file.api_url = Some(ctx.settings.api_url.clone());
                file.set_credential(Credential::ApiKey(answer.body.key.clone()), None);
                ctx.store.save(&file)?;
            }
            if !ctx.json {
                let note = if save {
                    "; saved as this CLI's credential"
                } else {
                    ""
                };
                eprintln!("Key {} created; it is shown only now{note}", answer.body.id);
            }
            ctx.output_as(&answer, |k| Some(k.key.clone()))?;
        }
        KeysCommand::List => {
            let answer: Answer<KeyList> = ctx.client.get_as("/v1/keys", &[]).await?;
            ctx.output_as(&answer, |list| {
                let rows: Vec<Vec<String>> = list
                    .keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone(),
                            k.prefix.clone(),
                            k.created_at.clone(),
                            render::cell_of(&k.expires_at),
                            render::cell_of(&k.last_used_at),
                            render::cell_of(&k.revoked_at),
                        ]
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
