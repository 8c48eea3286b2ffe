//! E2B's template build flow (`Template.build`): request, file upload by
//! hash to the URL Wrenn gives, start with steps, status with
//! `logsOffset`, aliases and the list; a failing step named; bad input;
//! and another team's template, build and files never reached.
use wrenn_cp::service::builds::context::{Entry, Kind as EntryKind, Selection};

use super::*;

const PUT: Method = Method::PUT;
const HASH: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

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

impl Fixture {
    /// `POST /v3/templates` (asserting 202); answers the build id.
    async fn request_build(&self, name: &str) -> String {
        let answer = self
            .call(
                POST,
                "/v3/templates",
                Some(json!({"name": name, "cpuCount": 1, "memoryMB": 512})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        assert_keys(
            &answer.body,
            &[
                "templateID",
                "buildID",
                "public",
                "names",
                "tags",
                "aliases",
            ],
        );
        answer.body["buildID"].as_str().expect("buildID").to_owned()
    }

    /// `PUT` of `body` to the path part of an upload URL.
    async fn put(&self, url: &str, body: Vec<u8>) -> Answer {
        let path = url
            .strip_prefix("http://localhost/e2b")
            .unwrap_or_else(|| panic!("an upload URL under this API: {url}"));
        let request = Request::builder()
            .method(PUT)
            .uri(format!("/e2b{path}"))
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("request");
        let (status, headers, body) = self.app.send_full(request).await;
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Uploads `files` as `hash` for `template` (asserting each answer).
    async fn upload(&self, template: &str, hash: &str, files: &[(&str, &[u8])]) {
        let link = self
            .call(GET, &format!("/templates/{template}/files/{hash}"), None)
            .await;
        assert_eq!(link.status, StatusCode::CREATED, "{link:?}");
        assert_eq!(link.body["present"], false);
        let url = link.body["url"].as_str().expect("url").to_owned();
        let put = self.put(&url, tar(files)).await;
        assert_eq!(put.status, StatusCode::OK, "{put:?}");
        // The URL was good once.
        self.put(&url, tar(files))
            .await
            .error(StatusCode::FORBIDDEN);
        let again = self
            .call(GET, &format!("/templates/{template}/files/{hash}"), None)
            .await;
        assert_eq!(again.body, json!({"present": true}));
    }

    /// Polls the status until it is final; answers the last page and
    /// every log entry seen.
    async fn wait_build(&self, template: &str, build: &str) -> (Value, Vec<Value>) {
        let mut entries = Vec::new();
        loop {
            let answer = self
                .call(
                    GET,
                    &format!(
                        "/templates/{template}/builds/{build}/status?logsOffset={}",
                        entries.len()
                    ),
                    None,
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
            assert_keys(
                &answer.body,
                &["templateID", "buildID", "status", "logs", "logEntries"],
            );
            let page = answer.body["logEntries"].as_array().unwrap().clone();
            assert!(page.len() <= 100);
            let done = ["ready", "error"].contains(&answer.body["status"].as_str().unwrap());
            let empty = page.is_empty();
            entries.extend(page);
            if done && empty {
                return (answer.body, entries);
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

fn steps(hash: &str) -> Value {
    json!({
        "fromTemplate": "base",
        "force": false,
        "steps": [
            {"type": "COPY", "args": ["app/hello.txt", "/srv/", "", ""], "force": false, "filesHash": hash},
            {"type": "ENV", "args": ["GREETING", "hello"], "force": false},
            {"type": "WORKDIR", "args": ["/srv"], "force": false},
            {"type": "RUN", "args": ["cat hello.txt", "root"], "force": false},
            {"type": "USER", "args": ["user"], "force": false}
        ],
        "startCmd": "python3 -m http.server 8000",
        "readyCmd": "sleep 0"
    })
}

both_dbs!(
    template_build_when_e2b_flow_then_ready_and_sandbox_starts,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let envd = fx.agent.serve_envd().await;
        let build = fx.request_build("e2bapp").await;
        fx.upload("e2bapp", HASH, &[("app/hello.txt", b"hi\n")])
            .await;

        let started = fx
            .call(
                POST,
                &format!("/v2/templates/e2bapp/builds/{build}"),
                Some(steps(HASH)),
            )
            .await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{started:?}");
        let (last, entries) = fx.wait_build("e2bapp", &build).await;

        assert_eq!(last["status"], "ready", "{last} {entries:?}");
        assert!(last.get("reason").is_none());
        assert!(!entries.is_empty());
        assert!(entries
            .iter()
            .all(|e| e["timestamp"].is_string() && e["level"].is_string()));
        let uploads = envd.uploads();
        assert!(
            uploads
                .iter()
                .any(|(_, tar)| String::from_utf8_lossy(tar).contains("hello.txt")),
            "the COPY took the uploaded file"
        );
        let run = envd
            .commands()
            .into_iter()
            .find(|c| c.args.iter().any(|a| a == "cat hello.txt"))
            .expect("the RUN");
        assert_eq!(run.cwd.as_deref(), Some("/srv"));
        assert_eq!(run.env.get("GREETING").map(String::as_str), Some("hello"));
        // The same build, a second time: 409.
        fx.call(
            POST,
            &format!("/v2/templates/e2bapp/builds/{build}"),
            Some(steps(HASH)),
        )
        .await
        .error(StatusCode::CONFLICT);
        // The Wrenn build is the same build.
        let (status, wrenn) = fx
            .app
            .request(
                GET,
                &format!("/v1/templates/builds/{build}"),
                Some(&fx.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{wrenn}");
        assert_eq!(wrenn["status"], "succeeded");

        let alias = fx.call(GET, "/templates/aliases/e2bapp", None).await;
        assert_eq!(alias.status, StatusCode::OK, "{alias:?}");
        assert_eq!(alias.body, json!({"templateID": "e2bapp", "public": false}));
        fx.call(GET, "/templates/aliases/nothing-here", None)
            .await
            .error(StatusCode::NOT_FOUND);
        let listed = fx.call(GET, "/templates", None).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert!(listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["templateID"] == "e2bapp"));

        let created = fx.create(json!({"templateID": "e2bapp"})).await;
        assert_eq!(created["templateID"], "e2bapp");
    }
);

both_dbs!(
    template_build_when_step_fails_then_error_names_the_step,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let envd = fx.agent.serve_envd().await;
        envd.exit_when("exit-badly", 3);
        let build = fx.request_build("broken").await;

        let body = json!({"steps": [
            {"type": "RUN", "args": ["echo ok"]},
            {"type": "RUN", "args": ["exit-badly"]},
            {"type": "RUN", "args": ["echo never"]}
        ]});
        let started = fx
            .call(
                POST,
                &format!("/v2/templates/broken/builds/{build}"),
                Some(body),
            )
            .await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{started:?}");
        let (last, _) = fx.wait_build("broken", &build).await;

        assert_eq!(last["status"], "error", "{last}");
        assert_eq!(last["reason"]["step"], "2", "{last}");
        assert!(last["reason"]["message"].as_str().unwrap().contains('3'));
        fx.call(GET, "/templates/aliases/broken", None)
            .await
            .error(StatusCode::NOT_FOUND);
    }
);

both_dbs!(
    template_build_when_bad_input_then_400_or_404,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let no_name = fx.call(POST, "/v3/templates", Some(json!({}))).await;
        no_name.error(StatusCode::BAD_REQUEST);
        for name in ["Bad Name", "base"] {
            let answer = fx
                .call(POST, "/v3/templates", Some(json!({"name": name})))
                .await;
            assert!(answer.status.is_client_error(), "{name}: {answer:?}");
        }
        fx.call(
            POST,
            "/v3/templates",
            Some(json!({"name": "two-tags", "tags": ["a", "b"]})),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
        // `alias`, the older name, and a name:tag.
        let old = fx
            .call(POST, "/v3/templates", Some(json!({"alias": "older:v1"})))
            .await;
        assert_eq!(old.status, StatusCode::ACCEPTED, "{old:?}");
        assert_eq!(old.body["templateID"], "older");
        assert_eq!(old.body["tags"], json!(["v1"]));

        let build = fx.request_build("app").await;
        let fx_ref = &fx;
        let build_ref = &build;
        let start = move |body: Value| {
            let path = format!("/v2/templates/app/builds/{build_ref}");
            async move { fx_ref.call(POST, &path, Some(body)).await }
        };
        let message = start(json!({"fromImage": "not an image", "steps": []}))
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(message.contains("fromImage"), "{message}");
        let message = start(json!({
            "fromImage": "123.dkr.ecr.eu-west-1.amazonaws.com/app:1",
            "fromImageRegistry": {"type": "aws", "awsAccessKeyId": "a",
                "awsSecretAccessKey": "s3cret-key", "awsRegion": "eu-west-1"},
            "steps": []
        }))
        .await
        .error(StatusCode::BAD_REQUEST);
        assert!(message.contains("type 'registry'"), "{message}");
        assert!(!message.contains("s3cret-key"), "{message}");
        start(json!({"steps": [{"type": "ADD", "args": ["a", "b"]}]}))
            .await
            .error(StatusCode::BAD_REQUEST);
        let message = start(json!({"steps": [
            {"type": "COPY", "args": ["a.txt", "/"], "filesHash": HASH.replace('a', "b")}
        ]}))
        .await
        .error(StatusCode::BAD_REQUEST);
        assert!(message.contains("not uploaded"), "{message}");
        // Refused starts leave the build startable.
        let status = fx
            .call(GET, &format!("/templates/app/builds/{build}/status"), None)
            .await;
        assert_eq!(status.body["status"], "waiting", "{status:?}");

        fx.call(
            POST,
            "/v2/templates/app/builds/bld_nosuch",
            Some(json!({"steps": []})),
        )
        .await
        .error(StatusCode::NOT_FOUND);
        fx.call(GET, "/templates/app/builds/bld_nosuch/status", None)
            .await
            .error(StatusCode::NOT_FOUND);
        fx.call(
            GET,
            &format!("/templates/app/builds/{build}/status?logsOffset=-1"),
            None,
        )
        .await
        .error(StatusCode::BAD_REQUEST);
        fx.call(GET, "/templates/app/files/not-a-hash", None)
            .await
            .error(StatusCode::BAD_REQUEST);
        fx.call(GET, &format!("/templates/never-asked/files/{HASH}"), None)
            .await
            .error(StatusCode::NOT_FOUND);
        // An upload with a made-up token, or that is not a tar.
        fx.put(
            &format!("http://localhost/e2b/templates/app/files/{HASH}/madeup"),
            tar(&[("a", b"a")]),
        )
        .await
        .error(StatusCode::FORBIDDEN);
        let link = fx
            .call(GET, &format!("/templates/app/files/{HASH}"), None)
            .await;
        let url = link.body["url"].as_str().unwrap().to_owned();
        fx.put(&url, b"not a tar at all, really".to_vec())
            .await
            .error(StatusCode::BAD_REQUEST);
        // No API key: 401 on every route but the upload.
        fx.send_as(None, POST, "/v3/templates", &[], Some(json!({"name": "x"})))
            .await
            .error(StatusCode::UNAUTHORIZED);
    }
);

both_dbs!(
    template_build_when_other_team_then_nothing_visible,
    |kind| async move {
        let fx = Fixture::start(kind).await;
        let envd = fx.agent.serve_envd().await;
        let build = fx.request_build("mine").await;
        fx.upload("mine", HASH, &[("app/hello.txt", b"hi\n")]).await;
        let (other_token, _) = fx.app.signup("eve@example.com").await;
        let other = fx.app.api_key(&other_token).await;
        let as_other = |method: Method, path: String, body: Option<Value>| {
            let other = other.clone();
            let fx = &fx;
            async move { fx.send_as(Some(&other), method, &path, &[], body).await }
        };

        as_other(
            POST,
            format!("/v2/templates/mine/builds/{build}"),
            Some(steps(HASH)),
        )
        .await
        .error(StatusCode::NOT_FOUND);
        as_other(GET, format!("/templates/mine/builds/{build}/status"), None)
            .await
            .error(StatusCode::NOT_FOUND);
        as_other(GET, format!("/templates/mine/files/{HASH}"), None)
            .await
            .error(StatusCode::NOT_FOUND);

        let started = fx
            .call(
                POST,
                &format!("/v2/templates/mine/builds/{build}"),
                Some(steps(HASH)),
            )
            .await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{started:?}");
        let (last, _) = fx.wait_build("mine", &build).await;
        assert_eq!(last["status"], "ready", "{last}");
        drop(envd);

        // Tags (Template.assign_tags / remove_tags / get_tags): build ids
        // are UUIDs, as the SDKs parse them.
        assert_eq!(build.len(), 36, "{build}");
        let tags = fx.call(GET, "/templates/mine/tags", None).await;
        assert_eq!(tags.status, StatusCode::OK, "{tags:?}");
        assert_eq!(tags.body[0]["tag"], "latest");
        assert_eq!(tags.body[0]["buildID"], build.as_str());
        assert!(tags.body[0]["createdAt"].is_string(), "{tags:?}");
        let assigned = fx
            .call(
                POST,
                "/templates/tags",
                Some(json!({"target": "mine", "tags": ["stable"]})),
            )
            .await;
        assert_eq!(assigned.status, StatusCode::CREATED, "{assigned:?}");
        assert_eq!(assigned.body, json!({"tags": ["stable"], "buildID": build}));
        let tags = fx.call(GET, "/templates/mine/tags", None).await;
        let names: Vec<&str> = tags
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tag"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["latest", "stable"]);
        let body = json!({"target": "mine:latest", "tags": ["theirs"]});
        as_other(POST, "/templates/tags".into(), Some(body))
            .await
            .error(StatusCode::NOT_FOUND);
        as_other(GET, "/templates/mine/tags".into(), None)
            .await
            .error(StatusCode::NOT_FOUND);
        let body = json!({"name": "mine", "tags": ["stable"]});
        as_other(DELETE, "/templates/tags".into(), Some(body))
            .await
            .error(StatusCode::NOT_FOUND);
        for (body, status) in [
            (
                json!({"target": "mine:nope", "tags": ["a"]}),
                StatusCode::NOT_FOUND,
            ),
            (
                json!({"target": "mine", "tags": ["latest"]}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"target": "mine", "tags": ["Bad Tag"]}),
                StatusCode::BAD_REQUEST,
            ),
            (
                json!({"target": "mine", "tags": []}),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            fx.call(POST, "/templates/tags", Some(body))
                .await
                .error(status);
        }
        let removed = fx
            .call(
                DELETE,
                "/templates/tags",
                Some(json!({"name": "mine", "tags": ["stable"]})),
            )
            .await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT, "{removed:?}");
        let tags = fx.call(GET, "/templates/mine/tags", None).await;
        assert_eq!(tags.body.as_array().unwrap().len(), 1, "{tags:?}");
        fx.call(
            DELETE,
            "/templates/tags",
            Some(json!({"name": "mine", "tags": ["stable"]})),
        )
        .await
        .error(StatusCode::NOT_FOUND);

        as_other(GET, format!("/templates/mine/builds/{build}/status"), None)
            .await
            .error(StatusCode::NOT_FOUND);
        as_other(GET, "/templates/aliases/mine".into(), None)
            .await
            .error(StatusCode::NOT_FOUND);
        let listed = as_other(GET, "/templates".into(), None).await;
        assert!(listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["templateID"] != "mine"));
        // The other team's files of the same hash are its own: not present.
        let theirs = as_other(
            POST,
            "/v3/templates".into(),
            Some(json!({"name": "theirs"})),
        )
        .await;
        assert_eq!(theirs.status, StatusCode::ACCEPTED);
        let link = as_other(GET, format!("/templates/theirs/files/{HASH}"), None).await;
        assert_eq!(link.body["present"], false, "{link:?}");
        as_other(DELETE, "/templates/mine".into(), None)
            .await
            .error(StatusCode::NOT_FOUND);
        // The owner deletes it.
        let deleted = fx.call(DELETE, "/templates/mine", None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    }
);
