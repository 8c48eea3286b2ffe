//! `sandbox create|list|get|kill|pause|resume|timeout`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::{json, Value};

use super::{CommandError, Context};
use crate::cli::{CreateArgs, OnTimeout, SandboxCommand, SandboxState};
use crate::render;
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
    on_timeout: Option<&'static str>,
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
            on_timeout: a.on_timeout.map(|o| match o {
                OnTimeout::Kill => "kill",
                OnTimeout::Pause => "pause",
            }),
            env_vars: to_map(a.env),
            metadata: to_map(a.metadata),
            internet: a.no_internet.then_some(false),
            egress_allow: a.allow.iter().map(|c| c.as_str().to_owned()).collect(),
            egress_deny: a.deny.iter().map(|c| c.as_str().to_owned()).collect(),
            tags: a.tag,
        }
    }
}

pub fn to_map(pairs: Vec<KeyValue>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

pub async fn run(ctx: &Context, cmd: SandboxCommand) -> Result<u8, CommandError> {
    let one = |value: &Value| Some(render::fields(value));
    match cmd {
        SandboxCommand::Create(args) => {
            let body = CreateSandbox::from(args);
            let spinner = spinner(&format!("Starting a sandbox from {}", body.template));
            let answer = ctx.client.post("/v1/sandboxes", &body).await;
            if let Some(spinner) = spinner {
                spinner.finish_and_clear();
            }
            ctx.output(&answer?, |a| Some(render::cell(a, "id")))?;
        }
        SandboxCommand::List {
            state,
            metadata,
            limit,
            all,
        } => list(ctx, state, metadata, limit, all).await?,
        SandboxCommand::Get { id } => {
            ctx.output(
                &ctx.client.get(&format!("/v1/sandboxes/{id}"), &[]).await?,
                one,
            )?;
        }
        SandboxCommand::Kill { id } => {
            let answer = ctx
                .client
                .delete(&format!("/v1/sandboxes/{id}"), &[])
                .await?;
            ctx.output(&answer, |_| None)?;
        }
        SandboxCommand::Pause { id } => {
            let answer = ctx
                .client
                .post_empty(&format!("/v1/sandboxes/{id}/pause"))
                .await?;
            ctx.output(&answer, state_line)?;
        }
        SandboxCommand::Resume { id } => {
            let answer = ctx
                .client
                .post_empty(&format!("/v1/sandboxes/{id}/resume"))
                .await?;
            ctx.output(&answer, state_line)?;
        }
        SandboxCommand::Timeout { id, secs } => {
            let body = json!({ "timeout_secs": secs });
            let answer = ctx
                .client
                .post(&format!("/v1/sandboxes/{id}/timeout"), &body)
                .await?;
            ctx.output(&answer, |a| {
                Some(format!(
                    "{} times out at {}",
                    render::cell(a, "id"),
                    render::cell(a, "timeout_at")
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
    if let Some(state) = state.and_then(|s| s.to_possible_value()) {
        query.push(("state".into(), state.get_name().to_owned()));
    }
    for kv in metadata {
        query.push((format!("metadata[{}]", kv.key), kv.value));
    }
    if let Some(limit) = limit {
        query.push(("limit".into(), limit.to_string()));
    }
    let mut sandboxes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(("cursor".into(), cursor.clone()));
        }
        let page = ctx.client.get("/v1/sandboxes", &page_query).await?;
        if let Some(items) = page["sandboxes"].as_array() {
            sandboxes.extend(items.iter().cloned());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if !all || cursor.is_none() {
            break;
        }
    }
    let answer = json!({ "sandboxes": sandboxes, "next_cursor": cursor });
    ctx.output(&answer, |a| {
        let rows: Vec<Vec<String>> = a["sandboxes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|s| {
                [
                    "id",
                    "template",
                    "state",
                    "vcpus",
                    "memory_mb",
                    "created_at",
                    "metadata",
                ]
                .iter()
                .map(|f| render::cell(s, f))
                .collect()
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

fn state_line(sandbox: &Value) -> Option<String> {
    Some(format!(
        "{} {}",
        render::cell(sandbox, "id"),
        render::cell(sandbox, "state")
    ))
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
