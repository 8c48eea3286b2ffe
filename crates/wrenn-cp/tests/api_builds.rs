//! Template builds through `/v1/templates/builds` against an in-memory
//! host ([`common::fake_agent::FakeAgent`]) and envd
//! ([`common::fake_envd::FakeEnvd`]), on SQLite and PostgreSQL: a build of
//! RUN/ENV/WORKDIR/USER/COPY registers a version and its tags and destroys
//! its build VM; an unchanged second build boots no VM and reports every
//! step cached; a failing RUN names its line and exit code and registers
//! nothing; cancel (queued and running); logs with offset and follow;
//! validation; the cap of active builds; deleting a built template.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]

#[macro_use]
mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use common::{assert_error, fake_agent::FakeAgent, fake_envd::FakeEnvd, Kind, TestApp};
use serde_json::{json, Value};
use wrenn_cp::service::builds::context::{Entry, Kind as EntryKind, Selection};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const DELETE: Method = Method::DELETE;

struct Fixture {
    app: TestApp,
    agent: Arc<FakeAgent>,
    envd: Arc<FakeEnvd>,
    token: String,
    team: String,
}

impl Fixture {
    async fn start(kind: Kind) -> Self {
        let agent = FakeAgent::new();
        let app = TestApp::start_configured(kind, agent.clone(), &[]).await;
        let envd = agent.serve_envd().await;
        let (token, team) = app.signup("ada@example.com").await;
        Self {
            app,
            agent,
            envd,
            token,
            team,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.app
            .request(method, path, Some(&self.token), body)
            .await
    }

    /// Submits a build; answers the status and body.
    async fn submit(&self, spec: Value, context: Option<Vec<u8>>) -> (StatusCode, Value) {
        let mut body = Vec::new();
        body.extend_from_slice(
            b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"spec\"\r\n\
              Content-Type: application/json\r\n\r\n",
        );
        body.extend_from_slice(spec.to_string().as_bytes());
        if let Some(context) = context {
            body.extend_from_slice(
                b"\r\n--BOUNDARY\r\nContent-Disposition: form-data; name=\"context\"; \
                  filename=\"context.tar\"\r\nContent-Type: application/x-tar\r\n\r\n",
            );
            body.extend_from_slice(&context);
        }
        body.extend_from_slice(b"\r\n--BOUNDARY--\r\n");
        let request = Request::builder()
            .method(POST)
            .uri("/v1/templates/builds")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(
                header::CONTENT_TYPE,
                "multipart/form-data; boundary=BOUNDARY",
            )
            .body(Body::from(body))
            .expect("request");
        self.app.send(request).await
    }

    /// Submits (asserting 202) and answers the build id.
    async fn start_build(&self, spec: Value, context: Option<Vec<u8>>) -> String {
        let (status, build) = self.submit(spec, context).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{build}");
        build["id"].as_str().expect("id").to_owned()
    }

    async fn build(&self, id: &str) -> Value {
        let (status, build) = self
            .call(GET, &format!("/v1/templates/builds/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{build}");
        build
    }

    /// Polls until the build's status is `wanted` (or final).
    async fn wait(&self, id: &str, wanted: &[&str]) -> Value {
        loop {
            let build = self.build(id).await;
            let status = build["status"].as_str().unwrap_or_default().to_owned();
            if wanted.contains(&status.as_str())
                || ["succeeded", "failed", "cancelled"].contains(&status.as_str())
            {
                return build;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    async fn log_text(&self, id: &str, query: &str) -> Vec<Value> {
        let (status, body) = self
            .call(GET, &format!("/v1/templates/builds/{id}/logs{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let text = match body {
            Value::String(s) => s,
            Value::Null => String::new(),
            // One line only: parsed as JSON already.
            other => format!("{other}\n"),
        };
        text.lines()
            .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
            .collect()
    }
}

fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<Entry> = files
        .iter()
        .map(|(path, data)| Entry {
            path: (*path).to_owned(),
            kind: EntryKind::File,
            mode: 0o644,
            data: data.to_vec(),
        })
        .collect();
    Selection {
        dir: true,
        base: String::new(),
        entries: entries.iter().map(|e| (e.path.clone(), e)).collect(),
    }
    .tar()
}

const DOCKERFILE: &str = "FROM base\n\
ENV GREETING=hello\n\
WORKDIR /srv/app\n\
RUN echo $GREETING > greeting\n\
USER user\n\
RUN id -un\n\
COPY app/ /srv/app/\n";

fn spec(name: &str, dockerfile: &str) -> Value {
    json!({"name": name, "dockerfile": dockerfile})
}

fn context() -> Vec<u8> {
    tar(&[("app/main.py", b"print('hi')\n")])
}

both_dbs!(
    build_when_steps_pass_then_version_tags_and_vm_gone,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        let id = fx
            .start_build(spec("myapp", DOCKERFILE), Some(context()))
            .await;
        let build = fx.wait(&id, &[]).await;

        assert_eq!(build["status"], "succeeded", "{build}");
        assert_eq!(build["steps_total"], 7);
        assert_eq!(build["steps_done"], 7);
        assert_eq!(build["steps_cached"], 0);
        assert!(build["finished_at"].is_string());
        let template_id = build["template_id"].as_str().expect("template id");
        let commands = fx.envd.commands();
        let run = commands
            .iter()
            .find(|c| c.args.iter().any(|a| a == "echo $GREETING > greeting"))
            .expect("the first RUN");
        assert_eq!(run.cmd, "/bin/sh");
        assert_eq!(run.cwd.as_deref(), Some("/srv/app"));
        assert_eq!(run.env.get("GREETING").map(String::as_str), Some("hello"));
        assert!(
            commands
                .iter()
                .any(|c| c.args.iter().any(|a| a.contains("mkdir -p /srv/app"))),
            "WORKDIR made: {commands:?}"
        );
        let uploads = fx.envd.uploads();
        assert_eq!(uploads.len(), 1, "one COPY source");
        assert!(uploads[0].0.starts_with("/tmp/.wrenn-build-copy/"));
        assert!(
            String::from_utf8_lossy(&uploads[0].1).contains("main.py"),
            "the tar holds the file"
        );
        let snapshots = fx.agent.snapshots();
        assert_eq!(snapshots.len(), 3, "one per disk step: {snapshots:?}");
        assert!(snapshots.iter().all(|s| !s.2 && s.3.is_none()));
        let vm = fx.agent.last_create().expect("a build VM");
        assert!(vm.internet);
        assert!(fx.agent.destroyed(&vm.id), "the build VM is destroyed");
        let (_, listed) = fx.call(GET, "/v1/sandboxes", None).await;
        assert_eq!(
            listed["sandboxes"],
            json!([]),
            "build VMs are not sandboxes"
        );
        let (status, template) = fx.call(GET, "/v1/templates/myapp", None).await;
        assert_eq!(status, StatusCode::OK, "{template}");
        let (_, templates) = fx.call(GET, "/v1/templates", None).await;
        let names: Vec<&str> = templates["templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"myapp"));
        assert!(
            names.iter().all(|n| !n.starts_with('~')),
            "cache entries are hidden: {names:?}"
        );
        let (status, tags) = fx.call(GET, "/v1/templates/myapp/tags", None).await;
        assert_eq!(status, StatusCode::OK, "{tags}");
        assert_eq!(tags[0]["tag"], "latest");
        assert_eq!(tags[0]["template_id"], template_id);
        assert_eq!(tags[0]["build_id"], id.as_str());
    }
);

both_dbs!(
    build_when_unchanged_then_all_cached_and_no_vm,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let first = fx
            .start_build(spec("myapp", DOCKERFILE), Some(context()))
            .await;
        let first = fx.wait(&first, &[]).await;
        assert_eq!(first["status"], "succeeded", "{first}");
        let creates = fx.agent.creates();

        let second = fx
            .start_build(
                json!({"name": "myapp", "tag": "v2", "dockerfile": DOCKERFILE}),
                Some(context()),
            )
            .await;
        let build = fx.wait(&second, &[]).await;

        assert_eq!(build["status"], "succeeded", "{build}");
        assert_eq!(build["steps_cached"], 3);
        assert_eq!(fx.agent.creates(), creates, "no build VM booted");
        assert_eq!(
            build["template_id"], first["template_id"],
            "same content, same version"
        );
        let lines = fx.log_text(&second, "").await;
        let cached = lines
            .iter()
            .filter(|l| l["text"].as_str().is_some_and(|t| t.ends_with("] CACHED")))
            .count();
        assert_eq!(cached, 3, "{lines:?}");
        let (_, tags) = fx.call(GET, "/v1/templates/myapp/tags", None).await;
        let tags: Vec<&str> = tags
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tag"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["latest", "v2"]);

        // A changed COPY rebuilds from that step, on the cached prefix.
        let changed = fx
            .start_build(
                spec("myapp", DOCKERFILE),
                Some(tar(&[("app/main.py", b"print('changed')\n")])),
            )
            .await;
        let build = fx.wait(&changed, &[]).await;
        assert_eq!(build["status"], "succeeded", "{build}");
        assert_eq!(build["steps_cached"], 2);
        assert_ne!(build["template_id"], first["template_id"]);
        assert_eq!(fx.agent.creates(), creates + 1);
        let (status, _) = fx.call(GET, "/v1/templates/myapp", None).await;
        assert_eq!(status, StatusCode::OK);

        // A sandbox starts from a version by `name:tag`: v2 is still the
        // first build's, `latest` (and the plain name) the changed one's.
        let mut images = Vec::new();
        for template in ["myapp:v2", "myapp:latest", "myapp"] {
            let (status, body) = fx
                .call(POST, "/v1/sandboxes", Some(json!({"template": template})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{template}: {body}");
            assert_eq!(body["template"], "myapp", "the name, without the tag");
            images.push(
                fx.agent
                    .create_calls()
                    .last()
                    .unwrap()
                    .template_image
                    .clone(),
            );
        }
        assert_ne!(images[0], images[1], "{images:?}");
        assert_eq!(images[1], images[2], "{images:?}");
        let (status, body) = fx
            .call(POST, "/v1/sandboxes", Some(json!({"template": "myapp:v9"})))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_error(&body, "template_not_found");
        let (status, body) = fx
            .call(POST, "/v1/sandboxes", Some(json!({"template": "myapp:V2"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_error(&body, "validation_failed");
        // Tags by hand: `stable` points at v2's version, then goes;
        // `latest` follows builds only.
        let (status, tags) = fx
            .call(
                POST,
                "/v1/templates/myapp/tags",
                Some(json!({"tags": ["stable"], "from": "v2"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tags}");
        let of = |tags: &Value, tag: &str| {
            tags.as_array()
                .unwrap()
                .iter()
                .find(|t| t["tag"] == tag)
                .map(|t| t["template_id"].clone())
        };
        assert_eq!(of(&tags, "stable"), of(&tags, "v2"), "{tags}");
        assert_ne!(of(&tags, "stable"), of(&tags, "latest"), "{tags}");
        let (status, body) = fx
            .call(
                POST,
                "/v1/templates/myapp/tags",
                Some(json!({"tags": ["latest"], "from": "v2"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = fx
            .call(
                POST,
                "/v1/templates/myapp/tags",
                Some(json!({"tags": ["x"], "from": "v9"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_error(&body, "template_not_found");
        let (status, body) = fx
            .call(DELETE, "/v1/templates/myapp/tags/stable", None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = fx
            .call(DELETE, "/v1/templates/myapp/tags/latest", None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (_, tags) = fx.call(GET, "/v1/templates/myapp/tags", None).await;
        assert_eq!(of(&tags, "stable"), None, "{tags}");

        let (_, page) = fx.call(GET, "/v1/sandboxes", None).await;
        for sandbox in page["sandboxes"].as_array().unwrap() {
            let path = format!("/v1/sandboxes/{}", sandbox["id"].as_str().unwrap());
            fx.call(DELETE, &path, None).await;
        }

        // Deleting the template deletes every version and its tags.
        let (status, body) = fx.call(DELETE, "/v1/templates/myapp", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, _) = fx.call(GET, "/v1/templates/myapp/tags", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = fx.call(GET, "/v1/templates/myapp", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    build_when_run_fails_then_line_exit_code_and_nothing_registered,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.envd.exit_when("exit-badly", 3);
        let dockerfile = "FROM base\nRUN echo ok\n\nRUN exit-badly\nRUN echo never\n";

        let id = fx.start_build(spec("broken", dockerfile), None).await;
        let build = fx.wait(&id, &[]).await;

        assert_eq!(build["status"], "failed", "{build}");
        assert_eq!(build["error"]["code"], "step_failed");
        assert_eq!(build["error"]["line"], 4);
        assert_eq!(build["error"]["exit_code"], 3);
        assert!(build["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 4"));
        assert!(build["template_id"].is_null());
        let vm = fx.agent.last_create().expect("a build VM");
        assert!(fx.agent.destroyed(&vm.id));
        let (status, _) = fx.call(GET, "/v1/templates/broken", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            !fx.envd
                .commands()
                .iter()
                .any(|c| c.args.iter().any(|a| a == "echo never")),
            "no step after the failed one runs"
        );
        let lines = fx.log_text(&id, "").await;
        assert!(lines
            .iter()
            .any(|l| l["stream"] == "stderr" && l["text"] == "boom" && l["step"] == 3));
        let (_, followed) = fx
            .call(
                GET,
                &format!("/v1/templates/builds/{id}/logs?follow=true"),
                None,
            )
            .await;
        let last = followed
            .as_str()
            .and_then(|t| t.lines().last())
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .expect("an end line");
        assert_eq!(last["type"], "end");
        assert_eq!(last["status"], "failed");
        assert_eq!(last["error"]["code"], "step_failed");
    }
);

both_dbs!(logs_when_offset_then_from_that_seq, |kind| async move {
    let fx = Fixture::start(kind).await;
    let id = fx
        .start_build(
            spec("logs", "FROM base\nRUN echo one\nRUN echo two\n"),
            None,
        )
        .await;
    fx.wait(&id, &[]).await;

    let all = fx.log_text(&id, "").await;
    let tail = fx.log_text(&id, "?offset=3").await;

    assert!(all.len() > 4, "{all:?}");
    assert_eq!(all[0]["seq"], 0);
    assert_eq!(all[0]["type"], "log");
    assert!(all.iter().any(|l| l["text"] == "[2/3] RUN echo one"));
    assert!(all
        .iter()
        .any(|l| l["text"].as_str().unwrap().starts_with("[3/3] done in ")));
    assert_eq!(tail[0]["seq"], 3);
    assert_eq!(tail.len(), all.len() - 3);
});

both_dbs!(
    cancel_when_running_then_cancelled_vm_gone_nothing_registered,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.envd.hang_when("sleep-forever");
        let id = fx
            .start_build(spec("slow", "FROM base\nRUN sleep-forever\n"), None)
            .await;
        loop {
            let build = fx.build(&id).await;
            if build["current_step"] == 2
                && fx
                    .envd
                    .commands()
                    .iter()
                    .any(|c| c.args.iter().any(|a| a == "sleep-forever"))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }

        let (status, body) = fx
            .call(POST, &format!("/v1/templates/builds/{id}/cancel"), None)
            .await;
        let build = fx.wait(&id, &[]).await;

        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(build["status"], "cancelled", "{build}");
        let vm = fx.agent.last_create().expect("a build VM");
        assert!(fx.agent.destroyed(&vm.id));
        assert!(fx.agent.snapshots().is_empty());
        let (status, _) = fx.call(GET, "/v1/templates/slow", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    cancel_when_queued_then_cancelled_at_once,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let team = fx.team.clone();
        let record = wrenn_cp::db::template_builds::NewBuild {
            id: "bld_queued1".into(),
            team_id: team,
            name: "q".into(),
            tag: "latest".into(),
            dockerfile: "FROM base\n".into(),
            build_args: "{}".into(),
            ready_command: None,
            vcpus: 1,
            memory_mb: 512,
            context_sha256: None,
            context_bytes: 0,
            steps_total: 1,
            created_by: None,
        };
        wrenn_cp::db::template_builds::insert(&fx.app.state.db, &record)
            .await
            .unwrap();

        let (status, build) = fx
            .call(POST, "/v1/templates/builds/bld_queued1/cancel", None)
            .await;

        assert_eq!(status, StatusCode::ACCEPTED, "{build}");
        assert_eq!(build["status"], "cancelled");
        assert!(build["finished_at"].is_string());
        let (status, body) = fx
            .call(GET, "/v1/templates/builds/bld_nope/cancel", None)
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
        let (status, body) = fx
            .call(POST, "/v1/templates/builds/bld_nope/cancel", None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_error(&body, "build_not_found");
    }
);

both_dbs!(
    submit_when_bad_input_then_typed_refusals,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let cases: Vec<(Value, Option<Vec<u8>>, StatusCode, &str)> = vec![
            (
                spec("a", "FROM base\nVOLUME /data\n"),
                None,
                StatusCode::BAD_REQUEST,
                "unsupported_instruction",
            ),
            (
                spec("a", "RUN true\n"),
                None,
                StatusCode::BAD_REQUEST,
                "invalid_dockerfile",
            ),
            (
                spec("a", "FROM debian:sid\n"),
                None,
                StatusCode::BAD_REQUEST,
                "unsupported_base",
            ),
            (
                spec("a", "FROM base\nCOPY missing.txt /x\n"),
                Some(context()),
                StatusCode::BAD_REQUEST,
                "missing_context_file",
            ),
            (
                spec("a", "FROM base\nCOPY app /x\n"),
                None,
                StatusCode::BAD_REQUEST,
                "missing_context_file",
            ),
            (
                spec("a", "FROM nosuchtemplate\n"),
                None,
                StatusCode::NOT_FOUND,
                "template_not_found",
            ),
            (
                spec("base", "FROM base\n"),
                None,
                StatusCode::CONFLICT,
                "name_taken",
            ),
            (
                spec("Bad Name", "FROM base\n"),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                json!({"name": "a", "dockerfile": "FROM base\n", "bogus": 1}),
                None,
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
        ];
        for (spec, context, status, code) in cases {
            let (got, body) = fx.submit(spec.clone(), context).await;
            assert_eq!(got, status, "{spec}: {body}");
            let message = assert_error(&body, code);
            if code == "unsupported_instruction" || code == "missing_context_file" {
                assert!(message.contains("line 2"), "{message}");
            }
        }
        let (status, body) = fx
            .call(POST, "/v1/templates/builds", Some(spec("a", "FROM base\n")))
            .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
        let (_, builds) = fx.call(GET, "/v1/templates/builds", None).await;
        assert_eq!(builds["builds"], json!([]), "no refused build is recorded");
        assert_eq!(fx.agent.creates(), 0);
    }
);

both_dbs!(
    submit_when_two_active_then_too_many_builds,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.envd.hang_when("sleep-forever");
        let slow = spec("slow", "FROM base\nRUN sleep-forever\n");
        let a = fx.start_build(slow.clone(), None).await;
        let b = fx.start_build(slow.clone(), None).await;

        let (status, body) = fx.submit(slow, None).await;

        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_error(&body, "too_many_builds");
        let (_, list) = fx.call(GET, "/v1/templates/builds?limit=1", None).await;
        assert_eq!(list["builds"].as_array().unwrap().len(), 1);
        assert_eq!(list["builds"][0]["id"], b.as_str(), "newest first");
        for id in [&a, &b] {
            fx.call(POST, &format!("/v1/templates/builds/{id}/cancel"), None)
                .await;
            let build = fx.wait(id, &[]).await;
            assert_eq!(build["status"], "cancelled", "{build}");
        }
    }
);

const OCI_FROM: &str = "FROM 127.0.0.1:5000/test/img:1\nRUN echo $FROM_IMAGE > seen\n";

fn log_lines(lines: &[Value]) -> String {
    lines
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

both_dbs!(
    build_when_from_oci_image_then_imported_and_planned_over_its_config,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let spec = json!({
            "name": "fromimg",
            "dockerfile": OCI_FROM,
            "registry_auth": {"username": "u", "password": "pw-secret-1"},
            "insecure_registry": true,
        });

        let id = fx.start_build(spec.clone(), None).await;
        let build = fx.wait(&id, &[]).await;

        assert_eq!(build["status"], "succeeded", "{build}");
        let imports = fx.agent.imports();
        assert_eq!(imports.len(), 1);
        assert_eq!(
            imports[0].oci_reference.as_deref(),
            Some("127.0.0.1:5000/test/img:1")
        );
        assert_eq!(
            (imports[0].username.as_str(), imports[0].password.expose()),
            ("u", "pw-secret-1")
        );
        assert!(imports[0].insecure_registry);
        assert_eq!(
            fx.agent.last_create().expect("a build VM").template_image,
            "oci-fake"
        );
        let run = fx
            .envd
            .commands()
            .into_iter()
            .find(|c| c.args.iter().any(|a| a == "echo $FROM_IMAGE > seen"))
            .expect("the RUN");
        assert_eq!(run.cwd.as_deref(), Some("/img"), "the image's WorkingDir");
        assert_eq!(run.env.get("FROM_IMAGE").map(String::as_str), Some("yes"));
        assert!(
            fx.agent.snapshots().iter().all(|s| s.3.is_none()),
            "CMD [\"bash\"] is not a start command"
        );
        let logs = log_lines(&fx.log_text(&id, "").await);
        assert!(
            logs.contains("FROM 127.0.0.1:5000/test/img:1: pulling"),
            "{logs}"
        );
        assert!(
            logs.contains("FROM 127.0.0.1:5000/test/img:1: unpacked into"),
            "{logs}"
        );
        assert!(!logs.contains("pw-secret-1") && !build.to_string().contains("pw-secret-1"));
        let (_, templates) = fx.call(GET, "/v1/templates", None).await;
        assert!(
            !templates.to_string().contains("\"~"),
            "imported bases are hidden: {templates}"
        );

        let again = fx
            .start_build(
                json!({
                    "name": "fromimg", "tag": "v2", "dockerfile": OCI_FROM,
                    "registry_auth": {"username": "u", "password": "pw-secret-1"},
                }),
                None,
            )
            .await;
        let again_build = fx.wait(&again, &[]).await;
        assert_eq!(again_build["status"], "succeeded", "{again_build}");
        let logs = log_lines(&fx.log_text(&again, "").await);
        assert!(
            logs.contains("FROM 127.0.0.1:5000/test/img:1: cached"),
            "{logs}"
        );
        assert_eq!(
            again_build["steps_cached"], 1,
            "the RUN is cached over the same base"
        );
    }
);

both_dbs!(
    build_when_import_refused_then_failed_with_its_code_and_nothing_registered,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        fx.agent.fail_next_import(
            "registry_auth_failed",
            "the registry refused the credentials for 127.0.0.1:5000",
        );

        let id = fx.start_build(spec("denied", OCI_FROM), None).await;
        let build = fx.wait(&id, &[]).await;

        assert_eq!(build["status"], "failed", "{build}");
        assert_eq!(build["error"]["code"], "registry_auth_failed");
        assert!(build["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("FROM 127.0.0.1:5000/test/img:1"));
        assert_eq!(fx.agent.creates(), 0, "no build VM");
        let (status, _) = fx.call(GET, "/v1/templates/denied", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    build_when_from_debian_suite_then_suite_imported,
    |kind| async move {
        let fx = Fixture::start(kind).await;

        let id = fx
            .start_build(spec("deb", "FROM debian:trixie\nRUN true\n"), None)
            .await;
        let build = fx.wait(&id, &[]).await;

        assert_eq!(build["status"], "succeeded", "{build}");
        let imports = fx.agent.imports();
        assert_eq!(imports[0].debian_suite.as_deref(), Some("trixie"));
        assert_eq!(imports[0].oci_reference, None);
        assert_eq!(
            fx.agent.last_create().expect("a build VM").template_image,
            "debian-fake"
        );
    }
);

both_dbs!(
    submit_when_registry_auth_without_oci_base_then_validation_failed,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let (status, body) = fx
            .submit(
                json!({"name": "a", "dockerfile": "FROM base\n",
                       "registry_auth": {"username": "u", "password": "p"}}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_error(&body, "validation_failed");
    }
);
