use super::*;
use crate::db::new_id;

async fn db_with_team() -> (tempfile::TempDir, Db, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&format!("sqlite://{}/cp.db", dir.path().display()))
        .await
        .expect("open");
    let team = new_id("team_");
    sqlx::query("INSERT INTO teams (id, name, personal, created_at) VALUES ($1, 't', 0, 0)")
        .bind(&team)
        .execute(&db.pool)
        .await
        .expect("team");
    (dir, db, team)
}

fn new_build(team: &str) -> NewBuild {
    NewBuild {
        id: new_id("bld_"),
        team_id: team.into(),
        name: "app".into(),
        tag: "latest".into(),
        dockerfile: "FROM base\nRUN true\n".into(),
        build_args: "{}".into(),
        ready_command: None,
        vcpus: 1,
        memory_mb: 512,
        context_sha256: None,
        context_bytes: 0,
        steps_total: 2,
        created_by: None,
    }
}

#[tokio::test]
async fn claim_when_two_replicas_race_then_one_wins() {
    let (_dir, db, team) = db_with_team().await;
    let build = new_build(&team);
    insert(&db, &build).await.expect("insert");
    assert_eq!(count_active(&db, &team).await.unwrap(), 1);
    assert!(claim(&db, &build.id, "replica-a", i64::MAX).await.unwrap());
    assert!(!claim(&db, &build.id, "replica-b", i64::MAX).await.unwrap());
    let row = get(&db, &team, &build.id).await.unwrap().expect("row");
    assert_eq!(
        (row.status, row.lease_owner.as_deref()),
        (BuildStatus::Building, Some("replica-a"))
    );
    assert_eq!(get(&db, "team_other", &build.id).await.unwrap(), None);
}

#[tokio::test]
async fn cancel_when_running_then_runner_told_on_renew_and_finish_guarded() {
    let (_dir, db, team) = db_with_team().await;
    let build = new_build(&team);
    insert(&db, &build).await.unwrap();
    claim(&db, &build.id, "a", i64::MAX).await.unwrap();
    assert_eq!(
        renew(&db, &build.id, "a", i64::MAX).await.unwrap(),
        Renewal::Held
    );
    assert!(request_cancel(&db, &team, &build.id).await.unwrap());
    assert_eq!(
        renew(&db, &build.id, "a", i64::MAX).await.unwrap(),
        Renewal::CancelRequested
    );
    assert_eq!(
        renew(&db, &build.id, "b", i64::MAX).await.unwrap(),
        Renewal::Lost
    );
    assert!(
        !finish(&db, &build.id, "b", BuildStatus::Cancelled, None, None)
            .await
            .unwrap()
    );
    assert!(
        finish(&db, &build.id, "a", BuildStatus::Cancelled, None, None)
            .await
            .unwrap()
    );
    let row = get(&db, &team, &build.id).await.unwrap().unwrap();
    assert_eq!(row.status, BuildStatus::Cancelled);
    assert!(row.finished_at.is_some());
    assert!(
        !request_cancel(&db, &team, &build.id).await.unwrap(),
        "already ended"
    );
}

#[tokio::test]
async fn cancel_when_queued_then_cancelled_at_once_and_unclaimable() {
    let (_dir, db, team) = db_with_team().await;
    let build = new_build(&team);
    insert(&db, &build).await.unwrap();
    assert!(request_cancel(&db, &team, &build.id).await.unwrap());
    assert!(!claim(&db, &build.id, "a", i64::MAX).await.unwrap());
    assert_eq!(count_active(&db, &team).await.unwrap(), 0);
}

#[tokio::test]
async fn expire_when_lease_passed_then_failed_build_lost_once_with_its_vm() {
    let (_dir, db, team) = db_with_team().await;
    let build = new_build(&team);
    insert(&db, &build).await.unwrap();
    claim(&db, &build.id, "dead", 1_000).await.unwrap();
    let step = Progress {
        current_step: 2,
        current_step_text: "RUN true",
        steps_done: 1,
        steps_cached: 0,
        sandbox_id: Some("sbx_1"),
        host_id: Some("host_1"),
    };
    assert!(progress(&db, &build.id, "dead", &step).await.unwrap());
    assert!(
        expire_leases(&db, 500).await.unwrap().is_empty(),
        "not yet expired"
    );
    let ended = expire_leases(&db, 2_000).await.unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].sandbox_id.as_deref(), Some("sbx_1"));
    assert!(
        expire_leases(&db, 2_000).await.unwrap().is_empty(),
        "ended once"
    );
    let row = get(&db, &team, &build.id).await.unwrap().unwrap();
    assert_eq!(row.status, BuildStatus::Failed);
    assert_eq!(row.error.map(|e| e.code), Some("build_lost".into()));
    assert!(
        !finish(&db, &build.id, "dead", BuildStatus::Succeeded, None, None)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn logs_when_paged_by_offset_then_in_order_and_list_newest_first() {
    let (_dir, db, team) = db_with_team().await;
    let first = new_build(&team);
    insert(&db, &first).await.unwrap();
    let lines: Vec<LogLine> = (0..5)
        .map(|seq| LogLine {
            seq,
            at: seq,
            step: 1,
            stream: "stdout".into(),
            text: format!("line {seq}"),
        })
        .collect();
    append_logs(&db, &first.id, &lines).await.unwrap();
    let page = logs(&db, &first.id, 2, 2).await.unwrap();
    assert_eq!(page, lines[2..4]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = new_build(&team);
    insert(&db, &second).await.unwrap();
    let ids: Vec<String> = list(&db, &team, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [second.id, first.id]);
}
