//! `sandbox create|list|get|kill|pause|resume|fork|timeout`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use wrenn_types::{SandboxState, TimeoutAction};

use super::{CommandError, Context};
use crate::cli::{CreateArgs, SandboxCommand};
use crate::client::Answer;
use crate::render;
use crate::responses::{Sandbox, SandboxPage};
use crate::values::KeyValue;

/// The `CreateSandbox` body; unset options are left to the server's defaults.
#[derive(Debug, Serialize)]
struct CreateSandbox {
    template: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vcpus: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_mb: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disk_mb: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_timeout: Option<TimeoutAction>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env_vars: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internet: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    egress_allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    egress_deny: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
}

impl From<CreateArgs> for CreateSandbox {
    fn from(a: CreateArgs) -> Self {
        Self {
            template: a.template.as_str().to_owned(),
            vcpus: a.vcpus,
            memory_mb: a.memory,
            disk_mb: a.disk,
            timeout_secs: a.timeout,
            on_timeout: a.on_timeout,
            env_vars: to_map(a.env),
            metadata: to_map(a.metadata),
            internet: a.no_internet.then_some(false),
            egress_allow: a.allow.iter().map(|c| c.as_str().to_owned()).collect(),
            egress_deny: a.deny.iter().map(|c| c.as_str().to_owned()).collect(),
            tags: a.tag,
        }
    }
}

/// The answer of a fork: the copies, one id a line in text output.
#[derive(Debug, serde::Deserialize)]
struct Forked {
    sandboxes: Vec<Sandbox>,
}

pub fn to_map(pairs: Vec<KeyValue>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

pub async fn run(ctx: &Context, cmd: SandboxCommand) -> Result<u8, CommandError> {
    match cmd {
        SandboxCommand::Create(args) => {
            let body = CreateSandbox::from(args);
            let spinner = spinner(&format!("Starting a sandbox from {}", body.template));
            let answer = ctx.client.post_as::<Sandbox>("/v1/sandboxes", &body).await;
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            ctx.output_as(&answer?, |s| Some(s.id.to_string()))?;
        }
        SandboxCommand::List {
            state,
            metadata,
            limit,
            all,
        } => list(ctx, state, metadata, limit, all).await?,
        SandboxCommand::Get { id } => {
            let answer: Answer<Sandbox> = ctx
                .client
                .get_as(&format!("/v1/sandboxes/{id}"), &[])
                .await?;
            ctx.output_as(&answer, |_| Some(render::fields(&answer.raw)))?;
        }
        SandboxCommand::Kill { id } => {
            let answer = ctx
                .client
                .delete(&format!("/v1/sandboxes/{id}"), &[])
                .await?;
            ctx.output(&answer, |_| None)?;
        }
        SandboxCommand::Pause { id, disk_only } => {
            let path = format!("/v1/sandboxes/{id}/pause");
            let answer = if disk_only {
                ctx.client
                    .post_as(&path, &json!({ "memory": false }))
                    .await?
            } else {
                ctx.client.post_empty_as(&path).await?
            };
            ctx.output_as(&answer, state_line)?;
        }
        SandboxCommand::Fork { id, count, timeout } => {
            let mut body = json!({ "count": count });
            if let Some(secs) = timeout {
                body["timeout_secs"] = json!(secs);
            }
            let spinner = spinner(&format!("Forking {id}"));
            let answer = ctx
                .client
                .post_as::<Forked>(&format!("/v1/sandboxes/{id}/fork"), &body)
                .await;
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            ctx.output_as(&answer?, |f| {
                let ids: Vec<String> = f.sandboxes.iter().map(|s| s.id.to_string()).collect();
                Some(ids.join("\n"))
            })?;
        }
        SandboxCommand::Resume { id } => {
            let answer = ctx
                .client
                .post_empty_as(&format!("/v1/sandboxes/{id}/resume"))
                .await?;
            ctx.output_as(&answer, state_line)?;
        }
        SandboxCommand::Timeout { id, secs } => {
            let body = json!({ "timeout_secs": secs });
            let answer: Answer<Sandbox> = ctx
                .client
                .post_as(&format!("/v1/sandboxes/{id}/timeout"), &body)
                .await?;
            ctx.output_as(&answer, |s| {
                Some(format!(
                    "{} times out at {}",
                    s.id,
                    render::cell_of(&s.timeout_at)
                ))
            })?;
        }
    }
    Ok(0)
}

async fn list(
    ctx: &Context,
    state: Option<SandboxState>,
    metadata: Vec<KeyValue>,
    limit: Option<u32>,
    all: bool,
) -> Result<(), CommandError> {
    let mut query: Vec<(String, String)> = Vec::new();
    if let Some(state) = state {
        query.push(("state".into(), state.as_str().to_owned()));
    }
    for kv in metadata {
        query.push((format!("metadata[{}]", kv.key), kv.value));
    }
    if let Some(limit) = limit {
        query.push(("limit".into(), limit.to_string()));
    }
    // Every page's records, as received and as read.
    let (mut raw, mut sandboxes) = (Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    loop {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(("cursor".into(), cursor.clone()));
        }
        let page: Answer<SandboxPage> = ctx.client.get_as("/v1/sandboxes", &page_query).await?;
        if let Some(items) = page.raw["sandboxes"].as_array() {
            raw.extend(items.iter().cloned());
        }
        sandboxes.extend(page.body.sandboxes);
        cursor = page.body.next_cursor;
        if !all || cursor.is_none() {
            break;
        }
    }
    let answer = Answer {
        raw: json!({ "sandboxes": raw, "next_cursor": cursor }),
        body: sandboxes,
    };
    ctx.output_as(&answer, |sandboxes| {
        let rows: Vec<Vec<String>> = sandboxes
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.template.to_string(),
                    s.state.as_str().to_owned(),
                    s.vcpus.to_string(),
                    s.memory_mb.to_string(),
                    s.created_at.clone(),
                    render::cell_of(&s.metadata),
                ]
            })
            .collect();
        let headers = [
            "ID",
            "TEMPLATE",
            "STATE",
            "VCPUS",
            "MEMORY MB",
            "CREATED",
            "METADATA",
        ];
        Some(render::table(&headers, &rows))
    })?;
    if !ctx.json && cursor.is_some() {
        eprintln!("(more sandboxes: use --all to list every page)");
    }
    Ok(())
}

fn state_line(sandbox: &Sandbox) -> Option<String> {
    Some(format!("{} {}", sandbox.id, sandbox.state.as_str()))
}

/// A spinner on stderr, only when stderr is a terminal.
fn spinner(message: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn create_body_when_flags_then_contract_fields() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from([
            "wrenn",
            "sandbox",
            "create",
            "--memory",
            "1024",
            "--on-timeout",
            "kill",
            "--env",
            "A=1",
            "--no-internet",
            "--deny",
            "10.0.0.0/8",
        ])?;
        let Command::Sandbox(SandboxCommand::Create(args)) = cli.command else {
            panic!("expected sandbox create");
        };
        let body = serde_json::to_value(CreateSandbox::from(args)).expect("serialisable");
        assert_eq!(
            body,
            json!({"template": "base", "memory_mb": 1024, "on_timeout": "kill",
                   "env_vars": {"A": "1"}, "internet": false, "egress_deny": ["10.0.0.0/8"]})
        );
        Ok(())
    }
}
