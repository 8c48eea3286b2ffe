//! Scheduler decision time with 100 registered hosts (simulated records,
//! no agents): each decision is what `POST /v1/sandboxes` does before it
//! calls a host, i.e. load the team's candidate hosts with their tags and
//! reservations from the database, then pick one. 2,000 live sandbox
//! records are spread over the hosts so that the reservation query has
//! work to do. SQLite file (the default deployment).
use std::time::Instant;

use wrenn_cp::{
    config::CpConfig,
    db::{self, hosts::HostSpecs, sandboxes::SandboxRow},
    lifecycle::SandboxState,
    scheduler::{self, Requirements},
};

use crate::{stats, Row};

const HOSTS: usize = 100;
const SANDBOXES: usize = 2_000;
const DECISIONS: usize = 500;

pub async fn run() -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/cp.db", dir.path().display());
    let jwt_secret = wrenn_cp::auth::random_token(48);
    let config = CpConfig::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "CP_JWT_SECRET" => Some(jwt_secret.clone()),
        "CP_AGENT_URL" => Some(String::new()),
        _ => None,
    })?;
    let state = wrenn_cp::server::build_state(config).await?;
    let team = seed(&state.db).await?;
    let tags = vec!["gpu".to_owned()];
    let mut plain = Vec::with_capacity(DECISIONS);
    let mut tagged = Vec::with_capacity(DECISIONS);
    for i in 0..DECISIONS {
        let needs = Requirements {
            team_id: &team,
            vcpus: 1,
            memory_mb: 512,
            disk_mb: None,
            tags: if i % 2 == 0 { &[] } else { &tags },
            template_host: None,
            template_holders: &[],
            template_image: None,
            exclude: &[],
        };
        let started = Instant::now();
        scheduler::place(&state, &needs)
            .await
            .map_err(|e| anyhow::anyhow!("placement failed: {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if i % 2 == 0 {
            plain.push(ms)
        } else {
            tagged.push(ms)
        }
    }
    let note = format!(
        "{HOSTS} online hosts, {SANDBOXES} live sandboxes, SQLite; {} decisions each",
        DECISIONS / 2
    );
    Ok(vec![
        Row::new(
            "cp.schedule_100_hosts.p50",
            stats::median(&plain),
            "ms",
            note.clone(),
        ),
        Row::new(
            "cp.schedule_100_hosts.p99",
            stats::percentile(&plain, 99.0),
            "ms",
            note.clone(),
        ),
        Row::new(
            "cp.schedule_100_hosts_tag.p50",
            stats::median(&tagged),
            "ms",
            "same, with a tag constraint (10 of 100 hosts tagged)",
        ),
    ])
}

/// 100 registered online hosts (every tenth tagged `gpu`) and live
/// sandboxes spread over them; answers the team id.
async fn seed(db: &db::Db) -> anyhow::Result<String> {
    let team = db::new_id("team_");
    let now = db::now_ms();
    sqlx::query("INSERT INTO teams (id, name, personal, created_at) VALUES ($1, 'bench', 0, $2)")
        .bind(&team)
        .bind(now)
        .execute(&db.pool)
        .await?;
    let mut host_ids = Vec::with_capacity(HOSTS);
    for i in 0..HOSTS {
        let id = format!("host_bench{i:03}");
        let token = wrenn_cp::auth::host::generate_token();
        db::hosts::insert_pending(
            db,
            &db::hosts::NewHost {
                id: &id,
                name: &format!("h{i}"),
                team_id: None,
                tls_fingerprint: None,
                created_by: "bench",
                token_hash: &token.hash,
                token_expires_at: now + 3_600_000,
            },
            &if i % 10 == 0 {
                vec!["gpu".to_owned()]
            } else {
                vec![]
            },
        )
        .await?;
        let specs = HostSpecs {
            arch: "x86_64".into(),
            cpus: 16 + (i as i64 % 4) * 16,
            memory_mb: 65_536,
            disk_mb: 500_000,
            backend: "firecracker".into(),
            accelerator: "kvm".into(),
            agent_version: "bench".into(),
        };
        anyhow::ensure!(
            db::hosts::register(
                db,
                &id,
                &token.hash,
                &format!("10.9.{}.{}:50051", i / 250, i % 250 + 1),
                &specs,
                None
            )
            .await?,
            "registering a simulated host failed"
        );
        host_ids.push(id);
    }
    for i in 0..SANDBOXES {
        let row = SandboxRow {
            id: format!("sbxbench{i:06}"),
            team_id: team.clone(),
            host_id: Some(host_ids[i % HOSTS].clone()),
            template: "base".into(),
            template_image: "base".into(),
            state: SandboxState::Running,
            reason: String::new(),
            vcpus: 1,
            memory_mb: 512,
            disk_mb: None,
            timeout_secs: 300,
            on_timeout: wrenn_types::TimeoutAction::Kill,
            metadata: Default::default(),
            internet: true,
            egress_allow: vec![],
            egress_deny: vec![],
            from_snapshot: false,
            created_by: "bench".into(),
            created_at: now,
            started_at: Some(now),
            timeout_at: None,
            updated_at: now,
            auto_resume: false,
            public_traffic: true,
            traffic_token_hash: None,
            traffic_access_token: None,
        };
        db::sandboxes::insert(db, &row).await?;
    }
    Ok(team)
}
