//! Team webhooks against a local receiver, on SQLite and PostgreSQL: the
//! URL check (loopback refused unless the operator allows it), the secret
//! shown once, `pool_threshold` on upward crossings (once each) and
//! `pool_exhausted` on a refusal, each signed (`Wrenn-Signature`, verified
//! here), a 500 retried, and the deliveries recorded.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::State,
    http::{HeaderMap, Method, StatusCode},
    routing::post,
    Router,
};
use common::{assert_error, fake_agent::FakeAgent, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use wrenn_cp::service::notify::deliver::deliver_due;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// What the receiver was sent, and how many requests it still fails.
#[derive(Default)]
struct Received {
    fail_next: usize,
    requests: Vec<(HeaderMap, String, u16)>,
}

type Shared = Arc<Mutex<Received>>;

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let mut received = shared.lock().unwrap();
    let status = if received.fail_next > 0 {
        received.fail_next -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    received.requests.push((headers, body, status.as_u16()));
    status
}

/// A receiver on loopback: its URL and what it got.
async fn receiver(fail_first: usize) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Received {
        fail_next: fail_first,
        ..Received::default()
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), shared)
}

/// Checks `Wrenn-Signature: t=..,v1=..` over `"{t}.{body}"`.
fn verify(secret: &str, headers: &HeaderMap, body: &str) {
    let header = headers["wrenn-signature"].to_str().unwrap();
    let (t, v1) = header
        .split_once(',')
        .map(|(t, v)| {
            (
                t.strip_prefix("t=").unwrap(),
                v.strip_prefix("v1=").unwrap(),
            )
        })
        .expect("t=..,v1=..");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, want, "signature of {body}");
    let sent: i64 = t.parse().unwrap();
    let now = wrenn_cp::db::now_ms() / 1000;
    assert!((now - sent).abs() < 300, "timestamp {sent} vs {now}");
}

/// Delivers until the receiver answered `ok` requests with 200.
async fn deliver_until(app: &TestApp, shared: &Shared, ok: usize) {
    for _ in 0..100 {
        deliver_due(&app.state).await.expect("deliver");
        let got = shared
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.2 == 200)
            .count();
        if got >= ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the receiver did not get {ok} deliveries");
}

fn plan() -> Value {
    json!({"vcpus": 64, "memory_gib": 64, "storage_gib": 1000,
           "max_running": 1, "max_paused": 10, "price_cents": 100})
}

both_dbs!(
    webhook_when_thresholds_and_refusal_then_signed_retried_and_recorded,
    |kind| async move {
        let (url, shared) = receiver(1).await;

        // Without the operator's setting a loopback URL is refused.
        let strict = TestApp::start_with_agent(kind, FakeAgent::new()).await;
        let (token, _) = strict.signup("strict@example.com").await;
        let body = json!({"url": url});
        let (status, answer) = strict
            .request(PUT, "/v1/webhook", Some(&token), Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(assert_error(&answer, "validation_failed").contains("loopback"));

        let env = [("CP_WEBHOOK_ALLOW_PRIVATE", "true")];
        let app = TestApp::start_configured(kind, FakeAgent::new(), &env).await;
        let (admin, team) = app.signup("admin@example.com").await;
        let call = |method: Method, path: &str, body: Option<Value>| {
            let (app, admin, path) = (&app, admin.clone(), path.to_owned());
            async move { app.request(method, &path, Some(&admin), body).await }
        };
        let (status, answer) = call(PUT, "/v1/admin/plans/one", Some(plan())).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let path = format!("/v1/admin/teams/{team}/plan");
        let (status, answer) = call(PUT, &path, Some(json!({"plan": "one"}))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");

        let (status, hook) = call(PUT, "/v1/webhook", Some(json!({"url": url}))).await;
        assert_eq!(status, StatusCode::OK, "{hook}");
        let secret = hook["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");
        let (_, shown) = call(GET, "/v1/webhook", None).await;
        assert_eq!(shown["url"], url.as_str());
        assert!(
            shown.get("secret").is_none(),
            "the secret is shown once: {shown}"
        );

        // One running sandbox of one: 80 % and 100 % crossed; a second is
        // refused.
        let (status, created) = call(POST, "/v1/sandboxes", Some(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (status, answer) = call(POST, "/v1/sandboxes", Some(json!({}))).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");

        deliver_until(&app, &shared, 3).await;
        let requests = std::mem::take(&mut shared.lock().unwrap().requests);
        assert_eq!(requests.len(), 4, "one answered 500, tried again");
        assert_eq!(requests[0].2, 500);
        let retry = requests[1..].iter().find(|r| r.1 == requests[0].1);
        assert!(retry.is_some(), "the retry sends the same event");
        let mut seen = Vec::new();
        for (headers, body, _) in &requests[1..] {
            verify(&secret, headers, body);
            let event: Value = serde_json::from_str(body).unwrap();
            assert_eq!(headers["wrenn-event"], event["type"].as_str().unwrap());
            assert_eq!(event["team_id"], team.as_str());
            assert_eq!(event["data"]["dimension"], "running sandboxes", "{event}");
            let level = event["data"]["level_percent"].as_i64();
            seen.push((event["type"].as_str().unwrap().to_owned(), level));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                ("pool_exhausted".to_owned(), None),
                ("pool_threshold".to_owned(), Some(80)),
                ("pool_threshold".to_owned(), Some(100)),
            ]
        );

        let (status, deliveries) = call(GET, "/v1/webhook/deliveries", None).await;
        assert_eq!(status, StatusCode::OK);
        let deliveries = deliveries.as_array().unwrap();
        assert_eq!(deliveries.len(), 3, "{deliveries:?}");
        assert!(deliveries
            .iter()
            .all(|d| d["state"] == "delivered" && d["last_status"] == 200));
        let retried: Vec<_> = deliveries.iter().filter(|d| d["attempts"] == 2).collect();
        assert_eq!(retried.len(), 1, "{deliveries:?}");

        // Still at 100 %: nothing new. Down and up again: a new crossing.
        deliver_due(&app.state).await.unwrap();
        assert!(shared.lock().unwrap().requests.is_empty());
        let id = created["id"].as_str().unwrap();
        let told = || async {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pool_thresholds WHERE team_id = $1")
                    .bind(team.as_str())
                    .fetch_one(&app.state.db.pool)
                    .await
                    .unwrap();
            n
        };
        assert_eq!(told().await, 2, "80 % and 100 % recorded as told");
        let (status, _) = call(DELETE, &format!("/v1/sandboxes/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // The release re-armed both levels in its own transaction, before
        // any growth looks.
        assert_eq!(told().await, 0, "use fell below both levels: re-armed");
        let (status, _) = call(POST, "/v1/sandboxes", Some(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED);
        deliver_until(&app, &shared, 2).await;
        let (_, deliveries) = call(GET, "/v1/webhook/deliveries", None).await;
        assert_eq!(deliveries.as_array().unwrap().len(), 5, "{deliveries}");
    }
);

both_dbs!(
    webhook_secret_when_stored_then_sealed_legacy_resealed_rotated_refused,
    |kind| async move {
        use wrenn_cp::{db::webhooks, service::notify::SealKey};
        let (url, shared) = receiver(0).await;
        let env = [("CP_WEBHOOK_ALLOW_PRIVATE", "true")];
        let app = TestApp::start_configured(kind, FakeAgent::new(), &env).await;
        let db = &app.state.db;
        let (owner, team) = app.signup("owner@example.com").await;
        let body = json!({"url": url});
        let (status, hook) = app
            .request(PUT, "/v1/webhook", Some(&owner), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{hook}");
        let secret = hook["secret"].as_str().expect("secret").to_owned();
        let stored = webhooks::get(db, &team).await.unwrap().expect("row").secret;
        assert!(stored.starts_with("sealed:v1:"), "{stored}");
        assert!(
            !stored.contains(&secret[6..]),
            "the secret is not stored plain"
        );
        webhooks::enqueue(db, &team, "pool_exhausted", "{\"n\":1}", 0)
            .await
            .unwrap();
        deliver_until(&app, &shared, 1).await;
        let (headers, sent, _) = shared.lock().unwrap().requests.remove(0);
        verify(&secret, &headers, &sent);

        // A row an older build wrote in plaintext still signs, and is
        // sealed by the delivery that read it.
        webhooks::put(db, &team, &url, "whsec_legacy")
            .await
            .unwrap();
        webhooks::enqueue(db, &team, "pool_exhausted", "{\"n\":2}", 0)
            .await
            .unwrap();
        deliver_until(&app, &shared, 1).await;
        let (headers, sent, _) = shared.lock().unwrap().requests.remove(0);
        verify("whsec_legacy", &headers, &sent);
        let stored = webhooks::get(db, &team).await.unwrap().expect("row").secret;
        assert!(stored.starts_with("sealed:v1:"), "{stored}");
        webhooks::enqueue(db, &team, "pool_exhausted", "{\"n\":3}", 0)
            .await
            .unwrap();
        deliver_until(&app, &shared, 1).await;
        let (headers, sent, _) = shared.lock().unwrap().requests.remove(0);
        verify("whsec_legacy", &headers, &sent);

        // Sealed under another CP_JWT_SECRET: the delivery fails at once,
        // saying what to do; nothing is sent.
        let rotated = SealKey::derive(b"the secret before rotation, 32+ characters");
        webhooks::put(db, &team, &url, &rotated.seal("whsec_old"))
            .await
            .unwrap();
        webhooks::enqueue(db, &team, "pool_exhausted", "{\"n\":4}", 0)
            .await
            .unwrap();
        assert_eq!(deliver_due(&app.state).await.unwrap(), 1);
        assert!(shared.lock().unwrap().requests.is_empty());
        let (_, deliveries) = app
            .request(GET, "/v1/webhook/deliveries", Some(&owner), None)
            .await;
        let newest = &deliveries.as_array().unwrap()[0];
        assert_eq!(newest["state"], "failed", "{newest}");
        assert_eq!(newest["attempts"], 1, "{newest}");
        let error = newest["last_error"].as_str().unwrap();
        assert!(error.contains("set the webhook again"), "{error}");
    }
);

both_dbs!(
    deliveries_when_two_replicas_deliver_then_each_sent_exactly_once,
    |kind| async move {
        use wrenn_cp::{db::webhooks, db::Db, state::AppState};
        const EVENTS: usize = 45;
        let (url, shared) = receiver(0).await;
        let env = [("CP_WEBHOOK_ALLOW_PRIVATE", "true")];
        let app = TestApp::start_configured(kind, FakeAgent::new(), &env).await;
        let (owner, team) = app.signup("owner@example.com").await;
        let body = json!({"url": url});
        let (status, hook) = app
            .request(PUT, "/v1/webhook", Some(&owner), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{hook}");
        let secret = hook["secret"].as_str().expect("secret").to_owned();
        for n in 0..EVENTS {
            let body = json!({"n": n}).to_string();
            webhooks::enqueue(&app.state.db, &team, "pool_exhausted", &body, 0)
                .await
                .unwrap();
        }
        // A second replica: its own connections to the same database.
        let db = Db::open(app.state.config.database_url.expose())
            .await
            .expect("second replica's database");
        let other = AppState {
            db,
            ..app.state.clone()
        };
        let run = |state: AppState| {
            let team = team.clone();
            async move {
                let mut attempted = 0;
                for _ in 0..200 {
                    attempted += deliver_due(&state).await.expect("deliver");
                    let pending = webhooks::deliveries(&state.db, &team, 1000)
                        .await
                        .unwrap()
                        .iter()
                        .filter(|d| d.state == "pending")
                        .count();
                    if pending == 0 {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                attempted
            }
        };
        let (first, second) = tokio::join!(run(app.state.clone()), run(other));
        assert_eq!(first + second, EVENTS, "attempts: {first} + {second}");

        let requests = std::mem::take(&mut shared.lock().unwrap().requests);
        let mut ids: Vec<String> = requests
            .iter()
            .map(|(headers, body, _)| {
                verify(&secret, headers, body);
                headers["wrenn-delivery"].to_str().unwrap().to_owned()
            })
            .collect();
        ids.sort();
        let sent = ids.len();
        ids.dedup();
        assert_eq!(sent, EVENTS, "every event sent");
        assert_eq!(ids.len(), EVENTS, "no event sent twice");
        let (_, deliveries) = app
            .request(GET, "/v1/webhook/deliveries", Some(&owner), None)
            .await;
        let deliveries = deliveries.as_array().unwrap();
        assert_eq!(deliveries.len(), EVENTS);
        assert!(deliveries
            .iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1));
        eprintln!("two replicas: {first} + {second} attempts for {EVENTS} events");
    }
);
