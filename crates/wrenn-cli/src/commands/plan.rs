//! `plan list|put|delete|assign`: plans and the plan of each team
//! (platform admins only).

use serde_json::{json, Value};

use super::{CommandError, Context};
use crate::cli::{PlanCommand, PlanSizes};
use crate::render;

fn sizes(sizes: &PlanSizes) -> Value {
    json!({
        "vcpus": sizes.vcpus, "memory_gib": sizes.memory_gib, "storage_gib": sizes.storage_gib,
        "max_running": sizes.max_running, "max_paused": sizes.max_paused,
    })
}

pub async fn run(ctx: &Context, cmd: PlanCommand) -> Result<u8, CommandError> {
    use reqwest::Method;
    match cmd {
        PlanCommand::List => {
            let rb = ctx.client.request(Method::GET, "/v1/admin/plans");
            let answer = ctx.client.send_json(rb).await?;
            ctx.output(&answer, |plans| {
                let rows: Vec<Vec<String>> = plans
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        [
                            "name",
                            "vcpus",
                            "memory_gib",
                            "storage_gib",
                            "max_running",
                            "max_paused",
                            "price_cents",
                            "period",
                            "overflow",
                        ]
                        .iter()
                        .map(|k| render::cell_of(&p[*k]))
                        .collect()
                    })
                    .collect();
                let headers = [
                    "NAME",
                    "VCPUS",
                    "MEM GIB",
                    "STORAGE GIB",
                    "RUNNING",
                    "PAUSED",
                    "PRICE",
                    "PERIOD",
                    "OVERFLOW",
                ];
                Some(render::table(&headers, &rows))
            })?;
        }
        PlanCommand::Put {
            name,
            sizes: plan_sizes,
            price_cents,
            period,
            overflow,
            burst_vcpus,
            burst_cents_per_vcpu_hour,
            queue_wait_secs,
        } => {
            let mut body = sizes(&plan_sizes);
            body["price_cents"] = json!(price_cents);
            body["period"] = json!(period);
            body["overflow"] = json!(overflow);
            body["burst_vcpus"] = json!(burst_vcpus);
            body["burst_cents_per_vcpu_hour"] = json!(burst_cents_per_vcpu_hour);
            body["queue_wait_secs"] = json!(queue_wait_secs);
            let path = format!("/v1/admin/plans/{name}");
            let rb = ctx.client.request(Method::PUT, &path).json(&body);
            let answer = ctx.client.send_json(rb).await?;
            ctx.output(&answer, |p| Some(render::fields(p)))?;
        }
        PlanCommand::Delete { name } => {
            let answer = ctx
                .client
                .delete(&format!("/v1/admin/plans/{name}"), &[])
                .await?;
            ctx.output(&answer, |_| Some(format!("Deleted plan {name}")))?;
        }
        PlanCommand::Assign {
            team_id,
            plan,
            vcpus,
            memory_gib,
            storage_gib,
            max_running,
            max_paused,
        } => {
            let body = json!({
                "plan": plan, "vcpus": vcpus, "memory_gib": memory_gib,
                "storage_gib": storage_gib, "max_running": max_running, "max_paused": max_paused,
            });
            let path = format!("/v1/admin/teams/{team_id}/plan");
            let rb = ctx.client.request(Method::PUT, &path).json(&body);
            let answer = ctx.client.send_json(rb).await?;
            ctx.output(&answer, |pool| Some(super::pool::human(pool)))?;
        }
    }
    Ok(0)
}
