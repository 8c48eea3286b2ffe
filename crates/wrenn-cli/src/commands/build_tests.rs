//! `template build` end to end against an in-process fake of the build API:
//! the multipart upload, the log rendered, a broken stream resumed, the
//! exit codes, and Ctrl-C cancelling.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::*;
use crate::cli::{Cli, Command, TemplateCommand};
use crate::client::Credential;
use crate::config::{ConfigFile, ConfigStore, Settings};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// The log arrives whole, the build succeeds.
    Succeeds,
    /// The first log stream closes early; the second, from offset 2,
    /// repeats line 1 and ends with a failed step.
    BreaksThenFails,
    /// The log waits for a cancel, then ends cancelled.
    WaitsForCancel,
    /// The log never ends.
    Stuck,
    /// The submit is refused.
    Refused,
}

struct Fake {
    scenario: Scenario,
    submits: Mutex<Vec<(String, Vec<u8>)>>,
    log_offsets: Mutex<Vec<String>>,
    cancels: Mutex<usize>,
    cancelled: Notify,
}

fn log(seq: u64, stream: &str, text: &str) -> String {
    format!(
        "{}\n",
        json!({"type": "log", "seq": seq, "at": "2026-01-01T00:00:00Z", "step": 1, "stream": stream, "text": text})
    )
}

fn end(status: &str, error: Value) -> String {
    format!(
        "{}\n",
        json!({"type": "end", "status": status, "error": error})
    )
}

fn failure() -> Value {
    json!({"code": "step_failed", "message": "RUN exit 7 failed", "line": 3, "exit_code": 7})
}

fn view(status: &str, fake: &Fake) -> Value {
    let (error, template_id) = match (status, fake.scenario) {
        ("succeeded", _) => (Value::Null, json!("tpl_9")),
        ("failed", _) => (failure(), Value::Null),
        _ => (Value::Null, Value::Null),
    };
    json!({
        "id": "bld_1", "name": "myapp", "tag": "v1", "status": status,
        "steps_total": 2, "steps_done": 1, "steps_cached": 0, "current_step": null,
        "current_step_text": null, "error": error, "template_id": template_id,
        "created_at": "2026-01-01T00:00:00Z", "started_at": null, "finished_at": null
    })
}

async fn submit_handler(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    fake.submits
        .lock()
        .expect("lock")
        .push((content_type, body.to_vec()));
    if fake.scenario == Scenario::Refused {
        let error = json!({"error": {"code": "unsupported_instruction", "message": "line 2: SHELL is not supported"}});
        return (StatusCode::BAD_REQUEST, Json(error));
    }
    (StatusCode::ACCEPTED, Json(view("queued", &fake)))
}

async fn logs_handler(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Body {
    let offset = query.get("offset").cloned().unwrap_or_default();
    fake.log_offsets.lock().expect("lock").push(offset.clone());
    match (fake.scenario, offset.as_str()) {
        (Scenario::Succeeds, _) => Body::from(format!(
            "{}{}\n{}{}",
            log(0, "system", "[1/2] RUN echo hi"),
            log(1, "stdout", "hi"),
            log(2, "system", "[1/2] done in 0.1s"),
            end("succeeded", Value::Null)
        )),
        (Scenario::BreaksThenFails, "0") => Body::from(format!(
            "{}{}",
            log(0, "system", "[1/2] RUN exit 7"),
            log(1, "stderr", "line one")
        )),
        (Scenario::BreaksThenFails, _) => Body::from(format!(
            "{}{}{}",
            log(1, "stderr", "line one"),
            log(2, "system", "[1/2] failed: exit code 7"),
            end("failed", failure())
        )),
        (Scenario::WaitsForCancel | Scenario::Stuck, _) => {
            let scenario = fake.scenario;
            let stream = futures_util::stream::unfold(0u8, move |step| {
                let fake = fake.clone();
                async move {
                    match step {
                        0 => Some((
                            Ok::<_, std::io::Error>(log(0, "system", "[1/2] RUN sleep 600")),
                            1,
                        )),
                        1 if scenario == Scenario::WaitsForCancel => {
                            fake.cancelled.notified().await;
                            Some((Ok(end("cancelled", Value::Null)), 2))
                        }
                        1 => std::future::pending().await,
                        _ => None,
                    }
                }
            });
            Body::from_stream(stream)
        }
        (Scenario::Refused, _) => Body::empty(),
    }
}

async fn view_handler(State(fake): State<Arc<Fake>>) -> Json<Value> {
    let status = match fake.scenario {
        Scenario::Succeeds => "succeeded",
        Scenario::BreaksThenFails => "failed",
        Scenario::WaitsForCancel | Scenario::Stuck => "cancelled",
        Scenario::Refused => "queued",
    };
    Json(view(status, &fake))
}

async fn cancel_handler(State(fake): State<Arc<Fake>>) -> (StatusCode, Json<Value>) {
    *fake.cancels.lock().expect("lock") += 1;
    fake.cancelled.notify_one();
    (StatusCode::ACCEPTED, Json(view("cancelled", &fake)))
}

async fn fake_server(scenario: Scenario) -> Result<(String, Arc<Fake>), std::io::Error> {
    let fake = Arc::new(Fake {
        scenario,
        submits: Mutex::default(),
        log_offsets: Mutex::default(),
        cancels: Mutex::default(),
        cancelled: Notify::new(),
    });
    let app = Router::new()
        .route("/v1/templates/builds", post(submit_handler))
        .route("/v1/templates/builds/bld_1", get(view_handler))
        .route("/v1/templates/builds/bld_1/logs", get(logs_handler))
        .route("/v1/templates/builds/bld_1/cancel", post(cancel_handler))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, fake))
}

fn context(url: &str, config_dir: &Path) -> Result<Context, ClientError> {
    Ok(Context {
        client: ApiClient::new(url, Some(Credential::ApiKey("wrn_test".into())), None)?,
        json: false,
        store: ConfigStore::in_dir(config_dir),
        file: ConfigFile::default(),
        settings: Settings {
            api_url: url.to_owned(),
            credential: None,
            team: None,
        },
    })
}

/// A context directory with a Dockerfile, a file and an ignored file.
fn context_dir() -> Result<tempfile::TempDir, std::io::Error> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM base\nCOPY app.py /app/\nRUN exit 7\n",
    )?;
    std::fs::write(dir.path().join("app.py"), "print('hi')\n")?;
    std::fs::write(dir.path().join("secret.txt"), "s3cret\n")?;
    std::fs::write(dir.path().join(".dockerignore"), "secret.txt\n")?;
    Ok(dir)
}

fn build_args(extra: &[&str], dir: &Path) -> Result<BuildArgs, clap::Error> {
    let mut argv = vec!["wrenn", "template", "build", "-t", "myapp:v1"];
    argv.extend_from_slice(extra);
    let dir = dir.to_string_lossy().into_owned();
    argv.push(&dir);
    match Cli::try_parse_from(argv)?.command {
        Command::Template(TemplateCommand::Build(args)) => Ok(args),
        other => panic!("parsed as {other:?}"),
    }
}

/// The log destination, readable after the command took it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// The parts of a multipart body by name: (headers, content).
fn parts(content_type: &str, body: &[u8]) -> HashMap<String, Vec<u8>> {
    let boundary = content_type
        .split_once("boundary=")
        .map(|(_, b)| b)
        .expect("a boundary");
    let delimiter = format!("--{boundary}");
    let text = body.to_vec();
    let mut out = HashMap::new();
    let mut rest = &text[..];
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content = &rest[head_end + 4..];
        let next = find(content, delimiter.as_bytes()).expect("a closing boundary");
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|n| n.split('"').next())
            .expect("a part name")
            .to_owned();
        out.insert(name, content[..next - 2].to_vec());
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn wait_for_log_request(fake: &Fake) {
    for _ in 0..200 {
        if !fake.log_offsets.lock().expect("lock").is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the command never asked for the log");
}

#[tokio::test]
async fn build_when_succeeds_then_exit_0_log_rendered_and_context_uploaded() -> TestResult {
    let (url, fake) = fake_server(Scenario::Succeeds).await?;
    let dir = context_dir()?;
    let ctx = context(&url, dir.path())?;
    let args = build_args(&["--build-arg", "A=1", "--cpu", "2"], dir.path())?;
    let out = Captured::default();

    let code = tokio::time::timeout(
        Duration::from_secs(20),
        run_build(&ctx, args, None, out.clone()),
    )
    .await??;

    assert_eq!(code, 0);
    let text = out.text();
    assert!(text.contains("sending build context"), "{text}");
    assert!(text.contains("] [1/2] RUN echo hi"), "{text}");
    assert!(text.contains("  #1 | hi"), "{text}");
    assert!(text.contains("build bld_1 succeeded"), "{text}");
    let submits = fake.submits.lock().expect("lock").clone();
    let (content_type, body) = &submits[0];
    assert!(content_type.starts_with("multipart/form-data; boundary="));
    let parts = parts(content_type, body);
    let spec: Value = serde_json::from_slice(&parts["spec"])?;
    assert_eq!(spec["name"], "myapp");
    assert_eq!(spec["tag"], "v1");
    assert_eq!(spec["build_args"], json!({"A": "1"}));
    assert_eq!(spec["vcpus"], 2);
    assert!(spec["dockerfile"]
        .as_str()
        .is_some_and(|d| d.starts_with("FROM base")));
    assert!(
        spec.get("memory_mb").is_none(),
        "unset options are left out"
    );
    let context = &parts["context"];
    assert_eq!(&context[..2], &[0x1f, 0x8b], "gzip");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&context[..]));
    let mut names = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let mut content = String::new();
        entry.read_to_string(&mut content)?;
        names.push(entry.path()?.to_string_lossy().into_owned());
    }
    assert_eq!(names, [".dockerignore", "Dockerfile", "app.py"]);
    Ok(())
}

#[tokio::test]
async fn build_when_stream_breaks_then_resumed_and_failure_names_line_and_exit_code() -> TestResult
{
    let (url, fake) = fake_server(Scenario::BreaksThenFails).await?;
    let dir = context_dir()?;
    let ctx = context(&url, dir.path())?;
    let out = Captured::default();

    let result = tokio::time::timeout(
        Duration::from_secs(20),
        run_build(&ctx, build_args(&[], dir.path())?, None, out.clone()),
    )
    .await?;

    let Err(err) = result else {
        panic!("a failed build must fail the command, got {result:?}");
    };
    assert_eq!(err.exit_code(), super::super::EXIT_API);
    let message = err.to_string();
    assert!(
        message.contains("bld_1") && message.contains("Dockerfile line 3, exit code 7"),
        "{message}"
    );
    assert_eq!(*fake.log_offsets.lock().expect("lock"), ["0", "2"]);
    let text = out.text();
    assert_eq!(text.matches("line one").count(), 1, "no line twice: {text}");
    assert!(text.contains("failed: exit code 7"), "{text}");
    Ok(())
}

#[tokio::test]
async fn build_when_ctrl_c_then_cancel_posted_and_exit_130() -> TestResult {
    let (url, fake) = fake_server(Scenario::WaitsForCancel).await?;
    let dir = context_dir()?;
    let ctx = context(&url, dir.path())?;
    let out = Captured::default();
    let (tx, rx) = mpsc::unbounded_channel();

    let command = run_build(&ctx, build_args(&[], dir.path())?, Some(rx), out.clone());
    let press = async {
        wait_for_log_request(&fake).await;
        tx.send(()).ok();
    };
    let (code, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(command, press)
    })
    .await?;

    assert_eq!(code?, EXIT_INTERRUPTED);
    assert_eq!(*fake.cancels.lock().expect("lock"), 1);
    let text = out.text();
    assert!(
        text.contains("interrupted: cancelling build bld_1"),
        "{text}"
    );
    assert!(text.contains("build bld_1 cancelled"), "{text}");
    Ok(())
}

#[tokio::test]
async fn build_when_ctrl_c_twice_then_stops_waiting_after_one_cancel() -> TestResult {
    let (url, fake) = fake_server(Scenario::Stuck).await?;
    let dir = context_dir()?;
    let ctx = context(&url, dir.path())?;
    let out = Captured::default();
    let (tx, rx) = mpsc::unbounded_channel();

    let command = run_build(&ctx, build_args(&[], dir.path())?, Some(rx), out.clone());
    let press = async {
        wait_for_log_request(&fake).await;
        tx.send(()).ok();
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(()).ok();
    };
    let (code, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(command, press)
    })
    .await?;

    assert_eq!(code?, EXIT_INTERRUPTED);
    assert_eq!(*fake.cancels.lock().expect("lock"), 1);
    assert!(out.text().contains("stopped waiting"), "{}", out.text());
    Ok(())
}

#[tokio::test]
async fn build_when_detach_then_no_log_followed() -> TestResult {
    let (url, fake) = fake_server(Scenario::Succeeds).await?;
    let dir = context_dir()?;
    let ctx = context(&url, dir.path())?;

    let code = run_build(
        &ctx,
        build_args(&["--detach"], dir.path())?,
        None,
        Captured::default(),
    )
    .await?;

    assert_eq!(code, 0);
    assert_eq!(fake.submits.lock().expect("lock").len(), 1);
    assert!(fake.log_offsets.lock().expect("lock").is_empty());
    Ok(())
}

#[tokio::test]
async fn build_when_refused_then_api_error_with_its_code() -> TestResult {
    let (url, _fake) = fake_server(Scenario::Refused).await?;
    let dir = context_dir()?;
    let ctx = context(&url, dir.path())?;

    let result = run_build(
        &ctx,
        build_args(&[], dir.path())?,
        None,
        Captured::default(),
    )
    .await;

    let Err(err) = result else {
        panic!("expected the refusal, got {result:?}");
    };
    assert_eq!(err.exit_code(), super::super::EXIT_API);
    assert_eq!(
        err.to_string(),
        "line 2: SHELL is not supported (unsupported_instruction)"
    );
    Ok(())
}

#[tokio::test]
async fn build_when_dockerfile_missing_then_local_file_error_and_nothing_sent() -> TestResult {
    let (url, fake) = fake_server(Scenario::Succeeds).await?;
    let dir = context_dir()?;
    std::fs::remove_file(dir.path().join("Dockerfile"))?;
    let ctx = context(&url, dir.path())?;

    let result = run_build(
        &ctx,
        build_args(&[], dir.path())?,
        None,
        Captured::default(),
    )
    .await;

    assert!(
        matches!(result, Err(CommandError::LocalFile { .. })),
        "{result:?}"
    );
    assert!(fake.submits.lock().expect("lock").is_empty());
    Ok(())
}

#[tokio::test]
async fn follow_when_not_following_then_log_so_far_and_offset_sent() -> TestResult {
    let (url, fake) = fake_server(Scenario::BreaksThenFails).await?;
    let client = ApiClient::new(&url, None, None)?;
    let out = Captured::default();
    let mut io = FollowIo {
        out: out.clone(),
        interrupts: None,
        started: None,
    };

    let followed = follow(&client, "bld_1", 0, false, &mut io).await?;

    assert_eq!(
        followed,
        Followed::Ended {
            cancel_asked: false
        }
    );
    assert_eq!(*fake.log_offsets.lock().expect("lock"), ["0"]);
    assert_eq!(out.text(), "[1/2] RUN exit 7\n  #1 ! line one\n");
    Ok(())
}

#[test]
fn choose_boundary_when_candidate_in_content_then_next_one() {
    let first = choose_boundary(7, &[b"{}".as_slice()]);
    let content = format!("xx--{first}yy");

    let chosen = choose_boundary(7, &[b"{}".as_slice(), content.as_bytes()]);

    assert!(first.ends_with("-0"), "{first}");
    assert!(chosen.ends_with("-1"), "{chosen}");
}

#[test]
fn multipart_when_built_then_parts_read_back_intact() {
    let (content_type, body) = multipart(br#"{"name":"a"}"#, b"\x1f\x8b payload\r\n--");

    let parts = parts(&content_type, &body);

    assert_eq!(parts["spec"], br#"{"name":"a"}"#);
    assert_eq!(parts["context"], b"\x1f\x8b payload\r\n--");
}

#[test]
fn registry_auth_when_password_on_stdin_then_trailing_newline_dropped() {
    let auth = registry_auth(Some("u".into()), true, &b"s3cret\n"[..], None)
        .expect("auth")
        .expect("some");
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("u", "s3cret")
    );
    assert!(!format!("{auth:?}").contains("s3cret"));
}

#[test]
fn registry_auth_when_no_stdin_flag_then_env_password_or_usage_error() {
    let auth = registry_auth(Some("u".into()), false, &b""[..], Some("envpw".into()))
        .expect("auth")
        .expect("some");
    assert_eq!(auth.password, "envpw");
    assert!(matches!(
        registry_auth(Some("u".into()), false, &b""[..], None),
        Err(CommandError::Usage(_))
    ));
    assert_eq!(
        registry_auth(None, false, &b""[..], None).expect("none"),
        None
    );
}

#[test]
fn build_spec_when_registry_auth_then_serialised_with_insecure_flag() {
    let spec = BuildSpec {
        name: "n".into(),
        tag: None,
        dockerfile: "FROM r/x:1\n".into(),
        build_args: BTreeMap::new(),
        ready_command: None,
        vcpus: None,
        memory_mb: None,
        public: false,
        registry_auth: Some(RegistryAuth {
            username: "u".into(),
            password: "p".into(),
        }),
        insecure_registry: true,
    };
    let json = serde_json::to_value(&spec).expect("json");
    assert_eq!(json["registry_auth"]["username"], "u");
    assert_eq!(json["insecure_registry"], true);
}
