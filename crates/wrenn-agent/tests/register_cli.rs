//! The `wrenn-agent` binary's registration paths that end before anything is
//! served, so they need no root: bad input and refusals exit 2 with a message
//! that names the cause (and the control plane's error code), and leave no
//! token file. The control plane is a one-route axum server in the test.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use axum::{http::StatusCode, routing::post, Json, Router};
use serde_json::json;
use tokio::process::Command;

const TOKEN: &str = "wrh_0123456789abcdefghijABCDEFGHIJkl";
const LIMIT: Duration = Duration::from_secs(30);

/// A control plane that refuses every registration with `code`.
async fn refusing_cp(status: StatusCode, code: &'static str) -> String {
    let app = Router::new().route(
        "/v1/hosts/register",
        post(move || async move {
            (
                status,
                Json(json!({"error": {"code": code, "message": "no such token (test)"}})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Runs the agent with a clean environment plus `env`.
async fn agent(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wrenn-agent"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AGENT_LISTEN_ADDR", "127.0.0.1:0")
        .env("AGENT_BACKEND", "qemu")
        .env("AGENT_ACCEL", "tcg")
        .env("AGENT_LOG", "warn")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    tokio::time::timeout(LIMIT, cmd.output())
        .await
        .expect("the agent exits in time")
        .expect("the agent runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Dirs {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    token_file: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    Dirs {
        token_file: tmp.path().join("host-token"),
        data,
        _tmp: tmp,
    }
}

fn env(d: &Dirs) -> Vec<(&str, &str)> {
    vec![
        ("WRENN_DATA_DIR", path(&d.data)),
        ("AGENT_TOKEN_FILE", path(&d.token_file)),
    ]
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test]
async fn register_when_control_plane_refuses_then_exit_2_with_its_code_and_no_file() {
    let cp = refusing_cp(StatusCode::UNAUTHORIZED, "invalid_registration_token").await;
    let d = dirs();

    let out = agent(
        &[
            "serve",
            "--register",
            TOKEN,
            "--address",
            "127.0.0.1:50999",
            "--cp-url",
            &cp,
        ],
        &env(&d),
    )
    .await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("invalid_registration_token"), "{message}");
    assert!(message.contains("no such token (test)"), "{message}");
    assert!(!d.token_file.exists());
}

#[tokio::test]
async fn register_without_serve_when_already_registered_then_exit_2_naming_the_file() {
    let d = dirs();
    std::fs::write(
        &d.token_file,
        r#"{"cp_url":"http://10.0.0.1:8000","host_id":"host_abcdefghij0123456789","host_token":"h.jwt.t","agent_secret":"from-the-control-plane-0123456789"}"#,
    )
    .expect("token file");

    let out = agent(
        &[
            "--register",
            TOKEN,
            "--address",
            "127.0.0.1:50999",
            "--cp-url",
            "http://127.0.0.1:9",
        ],
        &env(&d),
    )
    .await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("delete {} first", d.token_file.display())),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn serve_when_token_file_and_agent_secret_then_exit_2_saying_which_to_remove() {
    let d = dirs();
    std::fs::write(
        &d.token_file,
        r#"{"cp_url":"http://10.0.0.1:8000","host_id":"host_abcdefghij0123456789","host_token":"h.jwt.t","agent_secret":"from-the-control-plane-0123456789"}"#,
    )
    .expect("token file");
    let mut vars = env(&d);
    vars.push(("AGENT_SECRET", "0123456789abcdef-secret"));

    let out = agent(&["serve"], &vars).await;

    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unset AGENT_SECRET"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn register_when_input_malformed_then_exit_2_before_any_call() {
    let d = dirs();
    for (args, expected) in [
        (
            vec![
                "--register",
                "wrh_short",
                "--address",
                "127.0.0.1:1",
                "--cp-url",
                "http://127.0.0.1:9",
            ],
            "wrh_",
        ),
        (
            vec![
                "--register",
                TOKEN,
                "--address",
                "cp.example:1",
                "--cp-url",
                "http://127.0.0.1:9",
            ],
            "ip:port",
        ),
        (
            vec![
                "--register",
                TOKEN,
                "--address",
                "127.0.0.1:1",
                "--cp-url",
                "https://cp.example",
            ],
            "http://",
        ),
        (
            vec!["--register", TOKEN, "--address", "127.0.0.1:1"],
            "AGENT_CP_URL",
        ),
    ] {
        let out = agent(&args, &env(&d)).await;

        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!d.token_file.exists());
    }
}
