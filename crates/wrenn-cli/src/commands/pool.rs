//! `pool`: the team's pool (its plan's sizes) and what its sandboxes use.

use serde_json::Value;

use super::{CommandError, Context};
use crate::cli::PoolArgs;
use crate::render;

pub async fn run(ctx: &Context, args: PoolArgs) -> Result<u8, CommandError> {
    let path = match &args.team_id {
        Some(team) => format!("/v1/admin/teams/{team}/pool"),
        None => "/v1/pool".to_owned(),
    };
    let answer: Value = ctx
        .client
        .send_json(ctx.client.request(reqwest::Method::GET, &path))
        .await?;
    ctx.output(&answer, |pool| Some(human(pool)))?;
    Ok(0)
}

/// One row per dimension: used, size, percent.
pub fn human(pool: &Value) -> String {
    let plan = pool["plan"]["name"]
        .as_str()
        .unwrap_or("none (no pool limit)");
    let mut text = format!("plan: {plan}\n");
    let rows: Vec<Vec<String>> = [
        ("vCPUs", "vcpus"),
        ("memory MiB", "memory_mib"),
        ("storage MiB", "storage_mib"),
        ("running", "running"),
        ("paused", "paused"),
    ]
    .iter()
    .map(|(label, key)| {
        let used = pool["used"][key].as_i64().unwrap_or(0);
        let size = pool["size"][key].as_i64();
        let percent = size
            .filter(|s| *s > 0)
            .map_or("-".to_owned(), |s| format!("{}%", used * 100 / s));
        vec![
            (*label).to_owned(),
            used.to_string(),
            size.map_or("-".to_owned(), |s| s.to_string()),
            percent,
        ]
    })
    .collect();
    text.push_str(&render::table(&["", "USED", "SIZE", "USE"], &rows));
    if pool["over"] == true {
        text.push_str("\nover its pool: new sandboxes are refused until the use fits");
    }
    text
}
