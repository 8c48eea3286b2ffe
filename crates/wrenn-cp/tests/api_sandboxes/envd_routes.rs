//! Routes served by the sandbox's envd (files, metrics, exec/ws, pty) when
//! envd cannot be reached: `503 agent_unavailable` (or an `error` frame on
//! a WebSocket), never a 500; on a paused sandbox, 409 before envd is
//! tried.
use super::*;
use crate::common::websocket::{self, Upgrade};

fn envd_routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let at = |suffix: &str| format!("/v1/sandboxes/{id}{suffix}");
    vec![
        (GET, at("/files?path=/etc/hostname"), None),
        (PUT, at("/files?path=/tmp/x"), Some(json!("payload"))),
        (DELETE, at("/files?path=/tmp/x"), None),
        (GET, at("/files/list?path=/&depth=2"), None),
        (POST, at("/files/mkdir"), Some(json!({"path": "/tmp/d"}))),
        (
            POST,
            at("/files/rename"),
            Some(json!({"from": "/a", "to": "/b"})),
        ),
        (GET, at("/metrics"), None),
        (POST, at("/exec"), Some(json!({"command": "true"}))),
    ]
}

both_dbs!(
    envd_routes_when_unreachable_then_503_agent_unavailable,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;

        for (method, path, body) in envd_routes(&id) {
            let (status, answer) = fx.call(method.clone(), &path, body).await;
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path}: {answer}"
            );
            let message = assert_error(&answer, "agent_unavailable");
            assert!(
                !message.contains("127.0.0.1"),
                "internal address leaked: {message}"
            );
        }
    }
);

both_dbs!(
    envd_routes_when_paused_then_409_not_running,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;

        for (method, path, body) in envd_routes(&id) {
            let (status, answer) = fx.call(method.clone(), &path, body).await;
            assert_eq!(status, StatusCode::CONFLICT, "{method} {path}: {answer}");
            assert_error(&answer, "sandbox_not_running");
        }
    }
);

both_dbs!(
    exec_ws_when_envd_unreachable_then_error_frame,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let addr = fx.app.serve().await;

        let Upgrade::Open(mut socket) =
            websocket::connect(addr, &format!("/v1/sandboxes/{id}/exec/ws"), &fx.token).await
        else {
            panic!("exec/ws on a running sandbox did not upgrade");
        };
        socket.send_text(r#"{"command": "echo hi"}"#).await;
        let frame = socket.next_json().await.expect("an error frame");

        assert_eq!(frame["type"], "error", "{frame}");
        assert_eq!(frame["code"], "agent_unavailable");
    }
);

both_dbs!(
    exec_ws_when_first_frame_not_a_command_then_error_frame,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let addr = fx.app.serve().await;

        let Upgrade::Open(mut socket) =
            websocket::connect(addr, &format!("/v1/sandboxes/{id}/exec/ws"), &fx.token).await
        else {
            panic!("no upgrade");
        };
        socket.send_text("{not json").await;
        let frame = socket.next_json().await.expect("an error frame");

        assert_eq!(
            (frame["type"].clone(), frame["code"].clone()),
            (json!("error"), json!("invalid_json")),
            "{frame}"
        );
    }
);

both_dbs!(
    pty_when_envd_unreachable_then_error_frame,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let addr = fx.app.serve().await;

        let Upgrade::Open(mut socket) = websocket::connect(
            addr,
            &format!("/v1/sandboxes/{id}/pty?cols=100&rows=30"),
            &fx.token,
        )
        .await
        else {
            panic!("pty on a running sandbox did not upgrade");
        };
        let frame = socket.next_json().await.expect("an error frame");

        assert_eq!(
            (frame["type"].clone(), frame["code"].clone()),
            (json!("error"), json!("agent_unavailable")),
            "{frame}"
        );
    }
);

both_dbs!(
    websockets_when_paused_then_409_before_upgrade,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        fx.call(POST, &format!("/v1/sandboxes/{id}/pause"), None)
            .await;
        let addr = fx.app.serve().await;

        for route in ["exec/ws", "pty"] {
            match websocket::connect(addr, &format!("/v1/sandboxes/{id}/{route}"), &fx.token).await
            {
                Upgrade::Refused(status, answer) => {
                    assert_eq!(status, 409, "{route}: {answer}");
                    assert_error(&answer, "sandbox_not_running");
                }
                Upgrade::Open(_) => panic!("{route} upgraded on a paused sandbox"),
            }
        }
    }
);

both_dbs!(
    pty_when_bad_size_then_422_before_upgrade,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let id = fx.create_id().await;
        let addr = fx.app.serve().await;

        for query in ["cols=0", "rows=1001", "user=a%20b", "colour=red"] {
            match websocket::connect(addr, &format!("/v1/sandboxes/{id}/pty?{query}"), &fx.token)
                .await
            {
                Upgrade::Refused(status, answer) => {
                    assert!(status == 422 || status == 400, "{query}: {status} {answer}")
                }
                Upgrade::Open(_) => panic!("{query}: upgraded"),
            }
        }
    }
);
