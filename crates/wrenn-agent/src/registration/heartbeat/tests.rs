use std::time::Duration;

use super::*;
use crate::registration::{
    fake_cp::{online, online_every, refusal, FakeCp},
    specs::{Free, Load},
};

const HOST_ID: &str = "host_abcdefghij0123456789";
const TICK: Duration = Duration::from_millis(10);

fn config() -> HeartbeatConfig {
    HeartbeatConfig {
        host_id: HOST_ID.into(),
        host_token: "host.jwt.token".into(),
        interval: DEFAULT_INTERVAL,
        fixed_interval: Some(TICK),
        token_file: "/var/lib/wrenn/host-token".into(),
    }
}

fn usage() -> Usage {
    Usage {
        free: Free {
            vcpus: 3,
            memory_mb: 4000,
            disk_mb: 9000,
        },
        load: Load {
            sandboxes_running: 1,
            sandboxes_paused: 2,
            warm: 1,
            warm_pools: Vec::new(),
        },
    }
}

/// Runs the loop for at most `limit`; `None` when it was still running.
async fn run_for(cp: &FakeCp, limit: Duration) -> Option<HostRevoked> {
    let client = CpClient::new(cp.url.clone());
    tokio::time::timeout(limit, run(client, config(), usage))
        .await
        .ok()
}

#[tokio::test]
async fn run_when_answers_ok_then_keeps_beating_with_token_and_body() {
    let cp = FakeCp::start(vec![online(0)]).await;

    let stopped = run_for(&cp, Duration::from_millis(300)).await;

    assert_eq!(stopped, None, "the loop never stops on success");
    let seen = cp.seen();
    assert!(seen.len() >= 3, "one beat per tick: {}", seen.len());
    let first = &seen[0];
    assert_eq!(first.path, format!("/v1/hosts/{HOST_ID}/heartbeat"));
    assert_eq!(first.host_token.as_deref(), Some("host.jwt.token"));
    assert!(first.body["sent_at_ms"].as_u64().is_some_and(|ms| ms > 0));
    assert_eq!(first.body["free"]["vcpus"], 3);
    assert_eq!(first.body["free"]["memory_mb"], 4000);
    assert_eq!(first.body["free"]["disk_mb"], 9000);
    assert_eq!(first.body["load"]["sandboxes_running"], 1);
    assert_eq!(first.body["load"]["sandboxes_paused"], 2);
    assert_eq!(first.body["load"]["warm"], 1);
}

#[tokio::test]
async fn run_when_host_deleted_then_stops_with_reason_and_advice() {
    let cp = FakeCp::start(vec![online(0), refusal(410, "host_deleted")]).await;

    let stopped = run_for(&cp, Duration::from_secs(5))
        .await
        .expect("stops on 410");

    assert_eq!(stopped.status, 410);
    assert_eq!(stopped.code, "host_deleted");
    let message = stopped.to_string();
    assert!(message.contains("deleted this host"), "says why: {message}");
    assert!(
        message.contains("delete /var/lib/wrenn/host-token and register again"),
        "says what to do: {message}"
    );
    assert_eq!(cp.seen().len(), 2);
}

#[tokio::test]
async fn run_when_token_refused_or_mismatched_then_stops() {
    for (status, code) in [(401, "invalid_host_token"), (403, "host_mismatch")] {
        let cp = FakeCp::start(vec![refusal(status, code)]).await;

        let stopped = run_for(&cp, Duration::from_secs(5)).await.expect("stops");

        assert_eq!((stopped.status, stopped.code.as_str()), (status, code));
    }
}

#[tokio::test]
async fn run_when_5xx_then_retries_until_answered() {
    let cp = FakeCp::start(vec![
        refusal(503, "internal"),
        (502, serde_json::json!("not an envelope")),
        refusal(422, "validation_failed"),
        online(0),
        refusal(410, "host_deleted"),
    ])
    .await;

    let stopped = run_for(&cp, Duration::from_secs(5))
        .await
        .expect("stops at the 410");

    assert_eq!(stopped.code, "host_deleted");
    assert_eq!(cp.seen().len(), 5, "each failure retried");
}

#[tokio::test]
async fn run_when_control_plane_unreachable_then_keeps_retrying() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = CpClient::new(format!("http://127.0.0.1:{port}").parse().expect("url"));

    let stopped =
        tokio::time::timeout(Duration::from_millis(200), run(client, config(), usage)).await;

    assert!(
        stopped.is_err(),
        "an unreachable control plane never stops the agent"
    );
}

#[tokio::test]
async fn run_when_large_clock_skew_then_still_beating() {
    let cp = FakeCp::start(vec![online(60_000)]).await;

    let stopped = run_for(&cp, Duration::from_millis(100)).await;

    assert_eq!(stopped, None);
    assert!(cp.seen().len() >= 2);
}

#[tokio::test]
async fn run_when_no_override_then_next_beat_after_the_answered_interval() {
    let cp = FakeCp::start(vec![online_every(1, 0)]).await;
    let config = HeartbeatConfig {
        fixed_interval: None,
        ..config()
    };

    let stopped = tokio::time::timeout(
        Duration::from_millis(1600),
        run(CpClient::new(cp.url.clone()), config, usage),
    )
    .await;

    assert!(stopped.is_err());
    assert_eq!(
        cp.seen().len(),
        2,
        "one at once, one after the answered 1 s (not the default 30 s)"
    );
}

#[test]
fn retry_delay_when_failures_grow_then_doubles_up_to_interval() {
    let interval = Duration::from_secs(30);
    assert_eq!(retry_delay(1, interval), Duration::from_secs(1));
    assert_eq!(retry_delay(2, interval), Duration::from_secs(2));
    assert_eq!(retry_delay(5, interval), Duration::from_secs(16));
    assert_eq!(retry_delay(6, interval), interval);
    assert_eq!(retry_delay(1000, interval), interval);
    assert_eq!(retry_delay(3, TICK), TICK, "never longer than the interval");
}

#[test]
fn failures_when_repeated_then_one_warning_per_minute_and_growing_delay() {
    let mut failures = Failures::default();
    let err = CallError::BadAnswer {
        status: 502,
        source: None,
    };

    let first = failures.failed(&err, HOST_ID, DEFAULT_INTERVAL);
    let warned_at = failures.last_warning;
    let second = failures.failed(&err, HOST_ID, DEFAULT_INTERVAL);

    assert_eq!(
        (first, second),
        (Duration::from_secs(1), Duration::from_secs(2))
    );
    assert!(warned_at.is_some());
    assert_eq!(
        failures.last_warning, warned_at,
        "the second failure is not logged"
    );
    failures.recovered(HOST_ID);
    assert_eq!(failures.count, 0);
    assert_eq!(failures.last_warning, None, "the next outage warns at once");
}
