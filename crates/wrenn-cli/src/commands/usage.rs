//! `usage`: the team's metered usage by day, hour, sandbox or template
//! (`--csv` prints the server's CSV), or the invoice preview.

use serde_json::Value;

use super::{CommandError, Context};
use crate::cli::UsageArgs;
use crate::render;

pub async fn run(ctx: &Context, args: UsageArgs) -> Result<u8, CommandError> {
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, value) in [("start", &args.start), ("end", &args.end)] {
        if let Some(value) = value {
            query.push((name.to_owned(), value.clone()));
        }
    }
    if args.invoice {
        let rb = ctx
            .client
            .request(reqwest::Method::GET, "/v1/usage/invoice");
        let answer = ctx.client.send_json(rb.query(&query)).await?;
        ctx.output(&answer, |v| Some(render::fields(v)))?;
        return Ok(0);
    }
    let path = if args.all_teams {
        "/v1/admin/usage"
    } else {
        "/v1/usage"
    };
    if let Some(by) = &args.by {
        query.push(("by".into(), by.clone()));
    }
    if args.csv {
        query.push(("format".into(), "csv".into()));
        let rb = ctx.client.request(reqwest::Method::GET, path).query(&query);
        let response = ctx.client.send(rb).await?;
        let url = response.url().to_string();
        let text = response
            .text()
            .await
            .map_err(|e| crate::client::ClientError::Transport {
                url,
                source: e.into(),
            })?;
        render::print_line(text.trim_end())?;
        return Ok(0);
    }
    let rb = ctx.client.request(reqwest::Method::GET, path).query(&query);
    let answer: Value = ctx.client.send_json(rb).await?;
    ctx.output(&answer, |usage| Some(human(usage)))?;
    Ok(0)
}

fn human(usage: &Value) -> String {
    let rows: Vec<Vec<String>> = usage["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let num = |k: &str| format!("{:.1}", e[k].as_f64().unwrap_or(0.0));
            vec![
                e["key"].as_str().unwrap_or_default().to_owned(),
                num("running_seconds"),
                num("vcpu_seconds"),
                num("memory_gib_seconds"),
                format!("{:.4}", e["storage_gib_hours"].as_f64().unwrap_or(0.0)),
                num("guest_cpu_seconds"),
            ]
        })
        .collect();
    let by = usage["by"].as_str().unwrap_or("day").to_uppercase();
    let headers = [
        by.as_str(),
        "RUNNING S",
        "VCPU S",
        "MEMORY GIB S",
        "STORAGE GIB H",
        "GUEST CPU S",
    ];
    render::table(&headers, &rows)
}
