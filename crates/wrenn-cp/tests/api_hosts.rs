//! Host API behaviour (docs/hosts.md) on SQLite and PostgreSQL: records and
//! who may see and manage them, registration tokens (expiry, reuse, race,
//! regeneration), heartbeats (wrong host, wrong token type, deleted host),
//! the host monitor and recovery, tags, placement and forced deletion.
//! Registered hosts are in-memory fakes ([`FakeConnector`]).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{
    assert_error,
    fake_agent::{FakeAgent, FakeConnector},
    Kind, TestApp,
};
use serde_json::{json, Value};
use wrenn_cp::agent::AgentState;

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// A control plane with fake registered hosts, a platform admin (team A)
/// and a second user who owns team B.
struct Fixture {
    app: TestApp,
    hosts: Arc<FakeConnector>,
    admin: String,
    team_a: String,
    owner_b: String,
    team_b: String,
}

impl Fixture {
    async fn start(kind: Kind) -> Self {
        let hosts = FakeConnector::new();
        let app = TestApp::start_with_connector(kind, hosts.clone(), &[]).await;
        let (admin, team_a) = app.signup("admin@hosts.test").await;
        let (owner_b, team_b) = app.signup("owner@b.test").await;
        Self {
            app,
            hosts,
            admin,
            team_a,
            owner_b,
            team_b,
        }
    }

    /// Creates a host; answers `(host id, registration token)`.
    async fn create(&self, token: &str, body: Value) -> (String, String) {
        let (status, answer) = self
            .app
            .request(POST, "/v1/hosts", Some(token), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        (
            answer["host"]["id"].as_str().unwrap().to_owned(),
            answer["registration_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn register(&self, registration_token: &str, address: &str) -> (StatusCode, Value) {
        self.app
            .request(
                POST,
                "/v1/hosts/register",
                None,
                Some(json!({"token": registration_token, "address": address, "specs": specs(8, 16384)})),
            )
            .await
    }

    /// Creates and registers a host; answers `(host id, host JWT)`.
    async fn add_host(&self, token: &str, body: Value, address: &str) -> (String, String) {
        let (id, registration) = self.create(token, body).await;
        let (status, answer) = self.register(&registration, address).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        (id, answer["host_token"].as_str().unwrap().to_owned())
    }

    async fn heartbeat(&self, id: &str, host_token: Option<&str>) -> (StatusCode, Value) {
        let headers: Vec<(&str, &str)> = host_token
            .map(|t| ("x-host-token", t))
            .into_iter()
            .collect();
        self.app
            .request_with(
                POST,
                &format!("/v1/hosts/{id}/heartbeat"),
                None,
                &headers,
                Some(heartbeat_body()),
            )
            .await
    }

    async fn host(&self, id: &str) -> Value {
        let (status, answer) = self
            .app
            .request(GET, &format!("/v1/hosts/{id}"), Some(&self.admin), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    async fn create_sandbox(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.app
            .request(POST, "/v1/sandboxes", Some(token), Some(body))
            .await
    }

    /// The sandbox's state once it is `want`, or its last state after 2 s
    /// (the reconcile a returning host triggers runs in the background).
    async fn settled_state(&self, sandbox_id: &str, want: &str) -> Value {
        let mut state = Value::Null;
        for _ in 0..100 {
            let path = format!("/v1/sandboxes/{sandbox_id}");
            let (_, shown) = self.app.request(GET, &path, Some(&self.admin), None).await;
            state = shown["state"].clone();
            if state == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        state
    }

    fn fake(&self, host_id: &str) -> Arc<FakeAgent> {
        self.hosts.agent(host_id)
    }
}

fn specs(cpus: u32, memory_mb: u64) -> Value {
    json!({"arch": "x86_64", "cpus": cpus, "memory_mb": memory_mb, "disk_mb": 100_000,
           "backend": "qemu", "accelerator": "tcg", "agent_version": "0.1.0", "tls_cert_sha256": null})
}

fn heartbeat_body() -> Value {
    json!({"sent_at_ms": wrenn_cp::db::now_ms(),
           "free": {"vcpus": 8, "memory_mb": 16000, "disk_mb": 90000},
           "load": {"sandboxes_running": 0, "sandboxes_paused": 0}})
}

both_dbs!(
    create_host_when_admin_then_pending_with_token_once,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (status, answer) = f
            .app
            .request(
                POST,
                "/v1/hosts",
                Some(&f.admin),
                Some(json!({"name": "edge-1", "tags": ["gpu", "gpu"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let token = answer["registration_token"].as_str().unwrap();
        assert!(token.starts_with("wrh_") && token.len() == 36, "{token}");
        assert_eq!(answer["host"]["status"], "pending");
        assert_eq!(answer["host"]["byoc"], false);
        assert_eq!(answer["host"]["tags"], json!(["gpu"]));
        let id = answer["host"]["id"].as_str().unwrap();
        let shown = f.host(id).await;
        assert!(
            shown.get("registration_token").is_none(),
            "shown once: {shown}"
        );
        let stored: Option<String> =
            sqlx::query_scalar("SELECT token_hash FROM hosts WHERE id = $1")
                .bind(id)
                .fetch_one(&f.app.state.db.pool)
                .await
                .unwrap();
        assert_ne!(stored.as_deref(), Some(token), "only the hash is stored");
    }
);

both_dbs!(
    create_host_when_not_admin_then_shared_refused_and_byoc_allowed,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (status, answer) = f
            .app
            .request(
                POST,
                "/v1/hosts",
                Some(&f.owner_b),
                Some(json!({"name": "mine"})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_error(&answer, "forbidden");
        let (status, answer) = f
            .app
            .request(
                POST,
                "/v1/hosts",
                Some(&f.owner_b),
                Some(json!({"name": "mine", "byoc": true})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host"]["team_id"], f.team_b.as_str());
        // An API key acts as a member, not an owner.
        let key = f.app.api_key(&f.owner_b).await;
        let (status, _) = f
            .app
            .request(
                POST,
                "/v1/hosts",
                Some(&key),
                Some(json!({"name": "k", "byoc": true})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
);

both_dbs!(create_host_when_bad_input_then_422, |kind| async move {
    let f = Fixture::start(kind).await;
    for body in [
        json!({"name": "Bad Name"}),
        json!({"name": ""}),
        json!({"name": "ok", "tags": ["UPPER"]}),
        json!({"name": "ok", "tags": (0..17).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
        json!({"name": "ok", "tls_fingerprint": "abc"}),
    ] {
        let (status, answer) = f
            .app
            .request(POST, "/v1/hosts", Some(&f.admin), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_error(&answer, "validation_failed");
    }
    let (status, _) = f
        .app
        .request(
            POST,
            "/v1/hosts",
            Some(&f.admin),
            Some(json!({"name": "ok", "extra": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
});

both_dbs!(hosts_when_other_team_then_invisible, |kind| async move {
    let f = Fixture::start(kind).await;
    let (shared, _) = f.create(&f.admin, json!({"name": "shared"})).await;
    let (byoc_b, _) = f
        .create(&f.owner_b, json!({"name": "b", "byoc": true}))
        .await;
    let (_, answer) = f
        .app
        .request(GET, "/v1/hosts", Some(&f.owner_b), None)
        .await;
    let ids: Vec<&str> = answer["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![byoc_b.as_str()], "team B sees only its own host");
    let (status, answer) = f
        .app
        .request(GET, &format!("/v1/hosts/{shared}"), Some(&f.owner_b), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&answer, "not_found");
    // A third user cannot see, tag, drain or delete team B's host.
    let (other, _) = f.app.signup("other@c.test").await;
    for (method, path, body) in [
        (GET, format!("/v1/hosts/{byoc_b}"), None),
        (GET, format!("/v1/hosts/{byoc_b}/tags"), None),
        (
            POST,
            format!("/v1/hosts/{byoc_b}/tags"),
            Some(json!({"tags": ["x"]})),
        ),
        (
            PATCH,
            format!("/v1/hosts/{byoc_b}"),
            Some(json!({"draining": true})),
        ),
        (POST, format!("/v1/hosts/{byoc_b}/token"), None),
        (DELETE, format!("/v1/hosts/{byoc_b}"), None),
    ] {
        let (status, answer) = f
            .app
            .request(method.clone(), &path, Some(&other), body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    // The admin sees both.
    let (_, answer) = f.app.request(GET, "/v1/hosts", Some(&f.admin), None).await;
    assert_eq!(answer["hosts"].as_array().unwrap().len(), 2);
});

both_dbs!(
    register_when_valid_token_then_online_with_host_jwt_and_secret,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, token) = f.create(&f.admin, json!({"name": "h1"})).await;
        let (status, answer) = f.register(&token, "10.0.0.5:50051").await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], id.as_str());
        assert_eq!(answer["heartbeat_interval_secs"], 30);
        assert_eq!(answer["agent_secret"].as_str().unwrap().len(), 43);
        let host_token = answer["host_token"].as_str().unwrap();
        let claims = f
            .app
            .state
            .jwt
            .verify(host_token, wrenn_cp::auth::jwt::TokenType::Host)
            .expect("host JWT");
        assert_eq!(claims.sub, id);
        let host = f.host(&id).await;
        assert_eq!(host["status"], "online");
        assert_eq!(host["address"], "10.0.0.5:50051");
        assert_eq!(host["specs"]["cpus"], 8);
        assert_eq!(host["specs"]["backend"], "qemu");
        // A host JWT is not a user credential.
        let (status, answer) = f
            .app
            .request(GET, "/v1/sandboxes", Some(host_token), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "unauthenticated");
    }
);

both_dbs!(
    register_when_token_reused_unknown_or_expired_then_refused_and_audited,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, token) = f.create(&f.admin, json!({"name": "h1"})).await;
        assert_eq!(
            f.register(&token, "10.0.0.5:50051").await.0,
            StatusCode::CREATED
        );
        let (status, answer) = f.register(&token, "10.0.0.6:50051").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_error(&answer, "host_already_registered");
        assert_eq!(
            f.host(&id).await["address"],
            "10.0.0.5:50051",
            "no state change"
        );

        let unknown = format!("wrh_{}", "a".repeat(32));
        let (status, answer) = f.register(&unknown, "10.0.0.6:50051").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "invalid_registration_token");
        let (status, answer) = f.register("not-a-token", "10.0.0.6:50051").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "invalid_registration_token");

        let (expired_id, expired) = f.create(&f.admin, json!({"name": "h2"})).await;
        sqlx::query("UPDATE hosts SET token_expires_at = $1 WHERE id = $2")
            .bind(wrenn_cp::db::now_ms() - 1)
            .bind(&expired_id)
            .execute(&f.app.state.db.pool)
            .await
            .unwrap();
        let (status, answer) = f.register(&expired, "10.0.0.7:50051").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "registration_token_expired");
        assert_eq!(f.host(&expired_id).await["status"], "pending");

        let denied: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'host.register' AND outcome = 'denied'",
    )
    .fetch_one(&f.app.state.db.pool)
    .await
    .unwrap();
        assert_eq!(denied, 4, "every refusal is audited");
    }
);

both_dbs!(
    register_when_two_agents_race_then_exactly_one_wins,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, token) = f.create(&f.admin, json!({"name": "raced"})).await;
        let (a, b) = tokio::join!(
            f.register(&token, "10.0.0.1:50051"),
            f.register(&token, "10.0.0.2:50051")
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{a:?} {b:?}"
        );
        let winner = if a.0 == StatusCode::CREATED {
            "10.0.0.1:50051"
        } else {
            "10.0.0.2:50051"
        };
        assert_eq!(f.host(&id).await["address"], winner);
    }
);

both_dbs!(
    token_when_regenerated_then_old_refused_and_new_works,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, old) = f.create(&f.admin, json!({"name": "h"})).await;
        let (status, answer) = f
            .app
            .request(POST, &format!("/v1/hosts/{id}/token"), Some(&f.admin), None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let new = answer["registration_token"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        let (status, answer) = f.register(&old, "10.0.0.5:50051").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "invalid_registration_token");
        assert_eq!(
            f.register(&new, "10.0.0.5:50051").await.0,
            StatusCode::CREATED
        );
        let (status, answer) = f
            .app
            .request(POST, &format!("/v1/hosts/{id}/token"), Some(&f.admin), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_error(&answer, "host_not_pending");
    }
);

both_dbs!(
    register_when_specs_or_address_malformed_then_422_naming_field,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, token) = f.create(&f.admin, json!({"name": "h"})).await;
        let mut cases = vec![
            (
                json!({"token": token, "address": "nowhere", "specs": specs(8, 16384)}),
                "address",
            ),
            (
                json!({"token": token, "address": "10.0.0.1:50051", "specs": specs(0, 16384)}),
                "specs.cpus",
            ),
            (
                json!({"token": token, "address": "10.0.0.1:50051", "specs": specs(8, 1)}),
                "specs.memory_mb",
            ),
        ];
        let mut bad_arch = specs(8, 16384);
        bad_arch["arch"] = json!("sparc");
        cases.push((
            json!({"token": token, "address": "10.0.0.1:50051", "specs": bad_arch}),
            "specs.arch",
        ));
        let mut bad_version = specs(8, 16384);
        bad_version["agent_version"] = json!("1.0; rm -rf /");
        cases.push((
            json!({"token": token, "address": "10.0.0.1:50051", "specs": bad_version}),
            "specs.agent_version",
        ));
        for (body, field) in cases {
            let (status, answer) = f
                .app
                .request(POST, "/v1/hosts/register", None, Some(body.clone()))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
            let message = assert_error(&answer, "validation_failed");
            assert!(message.contains(field), "{field} not named in: {message}");
        }
        let (status, _) = f
            .app
            .request(
                POST,
                "/v1/hosts/register",
                None,
                Some(json!({"token": token, "address": "10.0.0.1:50051"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "missing specs");
        assert_eq!(
            f.host(&id).await["status"],
            "pending",
            "the token is still usable"
        );
        assert_eq!(
            f.register(&token, "10.0.0.1:50051").await.0,
            StatusCode::CREATED
        );
    }
);

both_dbs!(
    register_when_pinned_fingerprint_differs_then_409,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let pin = "ab".repeat(32);
        let (_, token) = f
            .create(
                &f.admin,
                json!({"name": "tls", "tls_fingerprint": pin.to_uppercase()}),
            )
            .await;
        let mut other = specs(8, 16384);
        other["tls_cert_sha256"] = json!("cd".repeat(32));
        let (status, answer) = f
            .app
            .request(
                POST,
                "/v1/hosts/register",
                None,
                Some(json!({"token": token, "address": "10.0.0.1:50051", "specs": other})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_error(&answer, "tls_fingerprint_mismatch");
        let (status, answer) = f.register(&token, "10.0.0.1:50051").await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "plain HTTP refused when a pin is set: {answer}"
        );
    }
);

both_dbs!(heartbeat_when_valid_then_load_recorded, |kind| async move {
    let f = Fixture::start(kind).await;
    let (id, host_token) = f
        .add_host(&f.admin, json!({"name": "h"}), "10.0.0.5:50051")
        .await;
    let (status, answer) = f.heartbeat(&id, Some(&host_token)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "online");
    assert!(answer["clock_skew_ms"].as_i64().unwrap().abs() < 5_000);
    let host = f.host(&id).await;
    assert_eq!(host["load"]["free_vcpus"], 8);
    assert!(host["last_heartbeat_at"].is_string());
});

both_dbs!(
    heartbeat_when_wrong_credentials_then_refused,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (a, token_a) = f
            .add_host(&f.admin, json!({"name": "a"}), "10.0.0.5:50051")
            .await;
        let (b, _) = f
            .add_host(&f.admin, json!({"name": "b"}), "10.0.0.6:50051")
            .await;
        let (status, answer) = f.heartbeat(&b, Some(&token_a)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_error(&answer, "host_mismatch");
        let (status, answer) = f.heartbeat(&a, Some(&f.admin)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a user JWT is not a host token"
        );
        assert!(assert_error(&answer, "invalid_host_token").contains("user token"));
        let (status, answer) = f.heartbeat(&a, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&answer, "invalid_host_token");
        let (status, _) = f.heartbeat(&a, Some("garbage")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Host JWTs do not work with a user's Authorization header either.
        let (status, _) = f.app.request(GET, "/v1/hosts", Some(&token_a), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Malformed load.
        let (status, answer) = f
        .app
        .request_with(POST, &format!("/v1/hosts/{a}/heartbeat"), None, &[("x-host-token", &token_a)],
            Some(json!({"sent_at_ms": 1, "free": {"vcpus": -1, "memory_mb": 1, "disk_mb": 1}, "load": {"sandboxes_running": 0, "sandboxes_paused": 0}})))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let denied: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'host.heartbeat' AND outcome = 'denied'",
    )
    .fetch_one(&f.app.state.db.pool)
    .await
    .unwrap();
        assert_eq!(denied, 4, "refusals are audited");
    }
);

both_dbs!(
    heartbeat_when_clock_skewed_then_accepted_and_recorded,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, token) = f
            .add_host(&f.admin, json!({"name": "h"}), "10.0.0.5:50051")
            .await;
        let mut body = heartbeat_body();
        body["sent_at_ms"] = json!(wrenn_cp::db::now_ms() + 3_600_000);
        let (status, answer) = f
            .app
            .request_with(
                POST,
                &format!("/v1/hosts/{id}/heartbeat"),
                None,
                &[("x-host-token", &token)],
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer["clock_skew_ms"].as_i64().unwrap() > 3_500_000);
        assert!(f.host(&id).await["clock_skew_ms"].as_i64().unwrap() > 3_500_000);
    }
);

both_dbs!(
    register_when_address_unroutable_metadata_or_loopback_then_422_host_address_refused,
    |kind| async move {
        // Found by probing: a team's own host registered at the metadata
        // service or at a port on the control plane's machine, and a
        // sandbox create then made the control plane call it.
        let f = Fixture::start(kind).await;
        let refused = [
            ("169.254.169.254:80", "link-local"),
            ("[fd00:ec2::254]:80", "link-local"),
            ("127.0.0.1:18555", "loopback"),
            ("[::ffff:127.0.0.1]:18555", "loopback"),
            ("10.0.0.1:50051", "private"),
            ("0.0.0.0:50051", "unicast"),
            ("224.0.0.1:50051", "unicast"),
            ("10.0.0.1:0", "port 0"),
        ];
        for (address, says) in refused {
            let (id, token) = f
                .create(&f.owner_b, json!({"name": "b", "byoc": true}))
                .await;
            let (status, answer) = f.register(&token, address).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{address}: {answer}"
            );
            let message = assert_error(&answer, "host_address_refused");
            assert!(message.contains(says), "{address}: {message}");
            let (_, host) = f
                .app
                .request(GET, &format!("/v1/hosts/{id}"), Some(&f.owner_b), None)
                .await;
            assert_eq!(host["status"], "pending", "{address}: nothing recorded");
        }
        // A shared host (made by a platform admin) may sit on a private
        // network, never on loopback or link-local.
        let (_, token) = f.create(&f.admin, json!({"name": "shared"})).await;
        let (status, answer) = f.register(&token, "127.0.0.1:50051").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let (status, answer) = f.register(&token, "10.0.0.1:50051").await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
);

#[tokio::test]
async fn register_when_private_addresses_allowed_then_loopback_byoc_accepted_metadata_not() {
    let hosts = FakeConnector::new();
    let app = TestApp::start_with_connector(
        Kind::Sqlite,
        hosts.clone(),
        &[("CP_ALLOW_PRIVATE_HOST_ADDRS", "true")],
    )
    .await;
    let (owner, _) = app.signup("owner@allowed.test").await;
    let create = |name: &'static str| {
        let app = &app;
        let owner = owner.clone();
        async move {
            let (status, answer) = app
                .request(
                    POST,
                    "/v1/hosts",
                    Some(&owner),
                    Some(json!({"name": name, "byoc": true})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            answer["registration_token"].as_str().unwrap().to_owned()
        }
    };
    let register = |token: String, address: &'static str| {
        let app = &app;
        async move {
            app.request(
                POST,
                "/v1/hosts/register",
                None,
                Some(json!({"token": token, "address": address, "specs": specs(8, 16384)})),
            )
            .await
        }
    };

    let (loopback, answer) = register(create("local").await, "127.0.0.1:18555").await;
    assert_eq!(loopback, StatusCode::CREATED, "{answer}");
    let (metadata, answer) = register(create("meta").await, "169.254.169.254:80").await;
    assert_eq!(metadata, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

both_dbs!(
    placement_when_byoc_tags_and_shared_then_assigned_accordingly,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (shared, _) = f
            .add_host(&f.admin, json!({"name": "shared"}), "10.0.0.1:50051")
            .await;
        let (gpu, _) = f
            .add_host(
                &f.admin,
                json!({"name": "gpu", "tags": ["gpu"]}),
                "10.0.0.3:50051",
            )
            .await;
        let (byoc_b, _) = f
            .add_host(
                &f.owner_b,
                json!({"name": "b", "byoc": true}),
                // A team's own host registers a public address.
                "203.0.113.2:50051",
            )
            .await;
        // Team A: a shared host, never team B's.
        for _ in 0..3 {
            let (status, answer) = f.create_sandbox(&f.admin, json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            let host = answer["host_id"].as_str().unwrap();
            assert!(host == shared || host == gpu, "team A placed on {host}");
        }
        // Team B: its own host first.
        let (status, answer) = f.create_sandbox(&f.owner_b, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], byoc_b.as_str());
        assert_eq!(f.fake(&byoc_b).creates(), 1);
        // Tags.
        let (status, answer) = f.create_sandbox(&f.admin, json!({"tags": ["gpu"]})).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], gpu.as_str());
        let (status, answer) = f.create_sandbox(&f.admin, json!({"tags": ["tpu"]})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(assert_error(&answer, "no_capacity").contains("tpu"));
        let (status, answer) = f
            .create_sandbox(&f.admin, json!({"tags": ["Bad Tag"]}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        // Draining the gpu host leaves no host for the tag.
        let (status, _) = f
            .app
            .request(
                PATCH,
                &format!("/v1/hosts/{gpu}"),
                Some(&f.admin),
                Some(json!({"draining": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = f.create_sandbox(&f.admin, json!({"tags": ["gpu"]})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let _ = (f.team_a, f.team_b);
    }
);

/// A heartbeat whose load carries `warm_pools` (and a field no control
/// plane knows yet, as a newer agent may send).
async fn heartbeat_warm(f: &Fixture, id: &str, token: &str, pools: Value) {
    let mut body = heartbeat_body();
    body["load"]["warm_pools"] = pools;
    body["load"]["from_a_newer_agent"] = json!({"x": 1});
    let (status, answer) = f
        .app
        .request_with(
            POST,
            &format!("/v1/hosts/{id}/heartbeat"),
            None,
            &[("x-host-token", token)],
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

both_dbs!(
    placement_when_a_host_reports_a_warm_base_then_it_wins_until_empty,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (warm, warm_token) = f
            .add_host(&f.admin, json!({"name": "warm"}), "10.0.0.1:50051")
            .await;
        let (cold, cold_token) = f
            .add_host(&f.admin, json!({"name": "cold"}), "10.0.0.2:50051")
            .await;
        // An old agent: no warm_pools at all.
        assert_eq!(
            f.heartbeat(&cold, Some(&cold_token)).await.0,
            StatusCode::OK
        );
        let capped = json!([{"template": "base", "vcpus": 1, "memory_mb": 512,
                             "idle": 2, "target": 2, "asked": 40}]);
        heartbeat_warm(&f, &warm, &warm_token, capped).await;
        let shown = f.host(&warm).await;
        let pools = &shown["load"]["warm_pools"];
        assert_eq!(pools[0]["template"], "base", "{shown}");
        assert_eq!(
            (
                pools[0]["idle"].as_u64(),
                pools[0]["target"].as_u64(),
                pools[0]["asked"].as_u64()
            ),
            (Some(2), Some(2), Some(40))
        );
        assert_eq!(f.host(&cold).await["load"]["warm_pools"], json!([]));
        // The warm host takes every create although it is the busier one
        // after the first (the fake agent never empties its pool).
        for _ in 0..3 {
            let (status, answer) = f.create_sandbox(&f.admin, json!({})).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            assert_eq!(answer["host_id"], warm.as_str());
        }
        // Another size is not served from that pool: capacity decides.
        let (status, answer) = f.create_sandbox(&f.admin, json!({"memory_mb": 1024})).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], cold.as_str());
        // The pool reported empty: the emptier host again.
        let empty = json!([{"template": "base", "vcpus": 1, "memory_mb": 512,
                            "idle": 0, "target": 2, "asked": 40}]);
        heartbeat_warm(&f, &warm, &warm_token, empty).await;
        let (status, answer) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], cold.as_str());
    }
);

both_dbs!(
    placement_when_hosts_full_then_no_capacity_names_resource,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, registration) = f.create(&f.admin, json!({"name": "tiny"})).await;
        let (status, _) = f
        .app
        .request(POST, "/v1/hosts/register", None, Some(json!({"token": registration, "address": "10.0.0.1:50051", "specs": specs(1, 1024)})))
        .await;
        assert_eq!(status, StatusCode::CREATED);
        // 1 CPU × overcommit 4 = 4 vCPUs; memory 1024 MiB × 1.
        let (status, answer) = f
            .create_sandbox(&f.admin, json!({"vcpus": 1, "memory_mb": 1024}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], id.as_str());
        let (status, answer) = f
            .create_sandbox(&f.admin, json!({"vcpus": 1, "memory_mb": 512}))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            assert_error(&answer, "no_capacity").contains("memory"),
            "{answer}"
        );
        let (status, answer) = f
            .create_sandbox(&f.admin, json!({"vcpus": 8, "memory_mb": 128}))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            assert_error(&answer, "no_capacity").contains("vCPU"),
            "{answer}"
        );
    }
);

both_dbs!(
    monitor_when_host_silent_then_unreachable_lost_and_recovered_on_heartbeat,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, host_token) = f
            .add_host(&f.admin, json!({"name": "h"}), "10.0.0.5:50051")
            .await;
        let (status, sandbox) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{sandbox}");
        let sandbox_id = sandbox["id"].as_str().unwrap().to_owned();
        // Nothing happens to a host that heartbeats.
        assert!(wrenn_cp::host_monitor::check(&f.app.state)
            .await
            .unwrap()
            .is_empty());
        sqlx::query("UPDATE hosts SET last_heartbeat_at = $1 WHERE id = $2")
            .bind(wrenn_cp::db::now_ms() - 91_000)
            .bind(&id)
            .execute(&f.app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(
            wrenn_cp::host_monitor::check(&f.app.state).await.unwrap(),
            vec![id.clone()]
        );
        let host = f.host(&id).await;
        assert_eq!(host["status"], "unreachable");
        assert!(host["status_reason"]
            .as_str()
            .unwrap()
            .contains("no heartbeat"));
        let (_, shown) = f
            .app
            .request(
                GET,
                &format!("/v1/sandboxes/{sandbox_id}"),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(shown["state"], "lost");
        assert!(shown["reason"].as_str().unwrap().contains(&id), "{shown}");
        // Lost sandboxes and unreachable hosts take no new work.
        let (status, _) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        // The host comes back: online, and the agent's list restores the truth.
        let (status, _) = f.heartbeat(&id, Some(&host_token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(f.host(&id).await["status"], "online");
        assert_eq!(f.settled_state(&sandbox_id, "running").await, "running");
        let events = wrenn_cp::db::sandboxes::events(&f.app.state.db, &sandbox_id)
            .await
            .unwrap();
        let states: Vec<&str> = events.iter().map(|(_, _, to, _)| to.as_str()).collect();
        assert!(
            states.ends_with(&["running", "lost", "running"]),
            "{states:?}"
        );
    }
);

both_dbs!(
    monitor_when_host_returns_without_sandbox_then_stopped,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, host_token) = f
            .add_host(&f.admin, json!({"name": "h"}), "10.0.0.5:50051")
            .await;
        let (_, sandbox) = f.create_sandbox(&f.admin, json!({})).await;
        let sandbox_id = sandbox["id"].as_str().unwrap().to_owned();
        sqlx::query("UPDATE hosts SET last_heartbeat_at = 0 WHERE id = $1")
            .bind(&id)
            .execute(&f.app.state.db.pool)
            .await
            .unwrap();
        wrenn_cp::host_monitor::check(&f.app.state).await.unwrap();
        f.fake(&id).forget(&sandbox_id);
        assert_eq!(f.heartbeat(&id, Some(&host_token)).await.0, StatusCode::OK);
        assert_eq!(f.settled_state(&sandbox_id, "stopped").await, "stopped");
    }
);

both_dbs!(
    delete_host_when_live_sandboxes_then_needs_force_and_agent_told_on_heartbeat,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (id, host_token) = f
            .add_host(&f.admin, json!({"name": "h"}), "10.0.0.5:50051")
            .await;
        let (_, sandbox) = f.create_sandbox(&f.admin, json!({})).await;
        let sandbox_id = sandbox["id"].as_str().unwrap().to_owned();
        let (status, answer) = f
            .app
            .request(DELETE, &format!("/v1/hosts/{id}"), Some(&f.admin), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_error(&answer, "host_has_sandboxes");
        let (status, _) = f
            .app
            .request(
                DELETE,
                &format!("/v1/hosts/{id}?force=true"),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(f.fake(&id).destroyed(&sandbox_id));
        let (_, shown) = f
            .app
            .request(
                GET,
                &format!("/v1/sandboxes/{sandbox_id}"),
                Some(&f.admin),
                None,
            )
            .await;
        assert_eq!(shown["state"], "stopped");
        assert!(shown["reason"].as_str().unwrap().contains("deleted"));
        let (status, answer) = f.heartbeat(&id, Some(&host_token)).await;
        assert_eq!(status, StatusCode::GONE);
        assert!(assert_error(&answer, "host_deleted").contains("register again"));
        let (status, _) = f
            .app
            .request(GET, &format!("/v1/hosts/{id}"), Some(&f.admin), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A BYOC host's member (not owner) cannot delete it.
        let (byoc, _) = f
            .create(&f.owner_b, json!({"name": "b", "byoc": true}))
            .await;
        let key_b = f.app.api_key(&f.owner_b).await;
        let (status, _) = f
            .app
            .request(DELETE, &format!("/v1/hosts/{byoc}"), Some(&key_b), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = f
            .app
            .request(DELETE, &format!("/v1/hosts/{byoc}"), Some(&f.owner_b), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
);

both_dbs!(tags_when_added_and_removed_then_listed, |kind| async move {
    let f = Fixture::start(kind).await;
    let (id, _) = f
        .create(
            &f.owner_b,
            json!({"name": "b", "byoc": true, "tags": ["eu"]}),
        )
        .await;
    let path = format!("/v1/hosts/{id}/tags");
    let (status, answer) = f
        .app
        .request(
            POST,
            &path,
            Some(&f.owner_b),
            Some(json!({"tags": ["gpu", "eu"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["tags"], json!(["eu", "gpu"]));
    let key_b = f.app.api_key(&f.owner_b).await;
    let (status, answer) = f.app.request(GET, &path, Some(&key_b), None).await;
    assert_eq!(status, StatusCode::OK, "members read tags");
    assert_eq!(answer["tags"], json!(["eu", "gpu"]));
    let (status, _) = f
        .app
        .request(POST, &path, Some(&key_b), Some(json!({"tags": ["x"]})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "members do not change them");
    let (status, _) = f
        .app
        .request(DELETE, &format!("{path}/gpu"), Some(&f.owner_b), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = f
        .app
        .request(DELETE, &format!("{path}/gpu"), Some(&f.owner_b), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = f
        .app
        .request(
            POST,
            &path,
            Some(&f.owner_b),
            Some(json!({"tags": ["no spaces"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (_, answer) = f.app.request(GET, &path, Some(&f.owner_b), None).await;
    assert_eq!(answer["tags"], json!(["eu"]));
});

both_dbs!(
    template_when_snapshotted_then_new_sandboxes_go_to_its_host,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (a, _) = f
            .add_host(&f.admin, json!({"name": "a"}), "10.0.0.1:50051")
            .await;
        let (status, sandbox) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(sandbox["host_id"], a.as_str());
        let id = sandbox["id"].as_str().unwrap();
        let (status, answer) = f
            .app
            .request(
                POST,
                &format!("/v1/sandboxes/{id}/snapshot"),
                Some(&f.admin),
                Some(json!({"name": "mine"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        // A second, emptier host joins; the template stays where its files are.
        let (b, _) = f
            .add_host(&f.admin, json!({"name": "b"}), "10.0.0.2:50051")
            .await;
        let (status, answer) = f
            .create_sandbox(&f.admin, json!({"template": "mine"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], a.as_str());
        let (status, answer) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(
            answer["host_id"],
            b.as_str(),
            "base goes to the least-loaded host"
        );
        let _ = AgentState::Running;
    }
);

both_dbs!(
    placement_when_chosen_host_answers_full_then_next_host,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (big, registration) = f.create(&f.admin, json!({"name": "big"})).await;
        let (status, _) = f
            .app
            .request(POST, "/v1/hosts/register", None,
                Some(json!({"token": registration, "address": "10.0.0.1:50051", "specs": specs(64, 262_144)})))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (small, _) = f
            .add_host(&f.admin, json!({"name": "small"}), "10.0.0.2:50051")
            .await;
        // The scheduler prefers the big host, whose agent is full after all.
        f.fake(&big)
            .fail_next_create(wrenn_cp::agent::AgentError::Exhausted(
                "no free slot".into(),
            ));
        let (status, answer) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["host_id"], small.as_str());
        let (_, list) = f
            .app
            .request(GET, "/v1/sandboxes", Some(&f.admin), None)
            .await;
        assert_eq!(
            list["sandboxes"].as_array().unwrap().len(),
            1,
            "no record of the refused try: {list}"
        );
        // With no other host, the full host's answer comes back.
        f.fake(&big)
            .fail_next_create(wrenn_cp::agent::AgentError::Exhausted(
                "no free slot".into(),
            ));
        f.app
            .request(
                PATCH,
                &format!("/v1/hosts/{small}"),
                Some(&f.admin),
                Some(json!({"draining": true})),
            )
            .await;
        let (status, answer) = f.create_sandbox(&f.admin, json!({})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            assert_error(&answer, "no_capacity").contains("no free slot"),
            "{answer}"
        );
    }
);

both_dbs!(
    files_when_sandbox_gone_on_host_meanwhile_then_409_not_503,
    |kind| async move {
        let f = Fixture::start(kind).await;
        let (host, _) = f
            .add_host(&f.admin, json!({"name": "h"}), "10.0.0.5:50051")
            .await;
        let (_, sandbox) = f.create_sandbox(&f.admin, json!({})).await;
        let id = sandbox["id"].as_str().unwrap().to_owned();
        // The fake's envd is unreachable: while the host runs the sandbox,
        // that is the agent's failure.
        let path = format!("/v1/sandboxes/{id}/files/list?path=/tmp");
        let (status, answer) = f.app.request(GET, &path, Some(&f.admin), None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        // Timed out on the host before the reconciler noticed.
        f.fake(&host).forget(&id);
        let (status, answer) = f.app.request(GET, &path, Some(&f.admin), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_error(&answer, "sandbox_not_running");
    }
);
