use std::collections::BTreeMap;

use super::*;
use crate::service::builds::{
    context::{Entry, Kind, Selection},
    dockerfile,
    plan::{self, StepAction},
};

const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A tar with `hello.txt` and `dir/a.txt`.
fn upload() -> Context {
    let entries: Vec<Entry> = [("hello.txt", &b"hi\n"[..]), ("dir/a.txt", &b"a\n"[..])]
        .iter()
        .map(|(path, data)| Entry {
            path: (*path).to_owned(),
            kind: Kind::File,
            mode: 0o644,
            data: data.to_vec(),
        })
        .collect();
    let tar = Selection {
        dir: true,
        base: String::new(),
        entries: entries.iter().map(|e| (e.path.clone(), e)).collect(),
    }
    .tar();
    Context::read(&tar).unwrap()
}

fn uploads() -> BTreeMap<String, Context> {
    BTreeMap::from([(HASH.to_owned(), upload())])
}

fn step(kind: StepKind, args: &[&str]) -> Step {
    Step {
        kind,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        files_hash: (kind == StepKind::Copy).then(|| HASH.to_owned()),
    }
}

fn every_kind() -> BuildSteps {
    BuildSteps {
        from_template: Some("base".into()),
        steps: vec![
            step(StepKind::Copy, &["hello.txt", "/app/", "", "0755"]),
            step(
                StepKind::Run,
                &["echo \"$HOME\" > /tmp/x\necho two", "root"],
            ),
            step(StepKind::Env, &["GREETING", "hello \"world\"", "B", "2"]),
            step(StepKind::Workdir, &["/app"]),
            step(StepKind::User, &["user"]),
            step(StepKind::Run, &["id", "root"]),
        ],
        start_cmd: Some("python3 -m http.server 8000".into()),
        ready_cmd: Some("[ -n \"$(ss -Htuln sport = :8000)\" ]".into()),
        ..BuildSteps::default()
    }
}

#[test]
fn translate_when_every_kind_then_the_builder_plans_it() {
    let t = translate(&every_kind(), &uploads()).unwrap();
    let file = dockerfile::parse(&t.dockerfile).unwrap();
    let plan = plan::plan(&file, &BTreeMap::new()).unwrap();
    let copy = plan
        .steps
        .iter()
        .find_map(|s| match &s.action {
            StepAction::Copy { sources, dest, .. } => Some((sources.clone(), dest.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        copy,
        (vec![format!("e2b/{HASH}/hello.txt")], "/app/".into())
    );
    assert_eq!(
        plan.start.env.get("GREETING").map(String::as_str),
        Some("hello \"world\"")
    );
    assert_eq!(plan.start.workdir.as_deref(), Some("/app"));
    // The RUN as root in between gives the user back.
    assert_eq!(plan.start.user.as_deref(), Some("user"));
    assert!(plan
        .start
        .start_command
        .unwrap()
        .contains("http.server 8000"));
    assert!(t.dockerfile.contains("chmod 0755 '/app/hello.txt'"));
    assert_eq!(
        t.ready_command.as_deref(),
        every_kind().ready_cmd.as_deref()
    );
}

#[test]
fn step_of_line_when_translated_then_each_line_names_its_step() {
    let build = every_kind();
    let t = translate(&build, &uploads()).unwrap();
    let n = build.steps.len();
    for (i, line) in t.dockerfile.lines().enumerate() {
        let number = i64::try_from(i + 1).unwrap();
        let want = if line.starts_with("FROM") {
            "base".to_owned()
        } else if line.starts_with("CMD") {
            "finalize".to_owned()
        } else if line.starts_with("RUN [\"/bin/sh\",\"-c\",\"id\"]") {
            "6".to_owned()
        } else if line.starts_with("COPY") {
            "1".to_owned()
        } else {
            continue;
        };
        assert_eq!(
            step_of_line(number, n).as_deref(),
            Some(want.as_str()),
            "line {number}: {line}"
        );
    }
    assert_eq!(step_of_line(0, n), None);
}

#[test]
fn base_reference_when_default_image_or_template_then_as_named() {
    assert_eq!(base_reference(Some("e2bdev/base"), None).unwrap(), "base");
    assert_eq!(base_reference(None, None).unwrap(), "base");
    assert_eq!(
        base_reference(Some("e2bdev/base"), Some("mine:v1")).unwrap(),
        "mine:v1"
    );
}

#[test]
fn base_reference_when_image_then_docker_names_and_debian_suites() {
    assert_eq!(
        base_reference(Some("python:3.12"), None).unwrap(),
        "docker.io/library/python:3.12"
    );
    assert_eq!(
        base_reference(Some("127.0.0.1:5000/test/img:1"), None).unwrap(),
        "127.0.0.1:5000/test/img:1"
    );
    assert_eq!(
        base_reference(Some("debian:bookworm"), None).unwrap(),
        "debian:bookworm"
    );
}

#[test]
fn base_reference_when_not_a_reference_then_refused_naming_the_field() {
    for (image, template) in [
        (Some("bad image"), None),
        (Some("debian:sid"), None),
        (None, Some("has space")),
        (None, Some("ghcr.io/o/r:1")),
    ] {
        let err = base_reference(image, template).unwrap_err();
        let field = if template.is_some() {
            "fromTemplate"
        } else {
            "fromImage"
        };
        assert!(
            matches!(&err, StepsError::BadBase(m) if m.contains(field)),
            "{image:?} {template:?}: {err}"
        );
    }
}

#[test]
fn translate_when_bad_steps_then_refused_with_the_step() {
    let cases: Vec<(Step, &str)> = vec![
        (
            step(StepKind::Copy, &["missing.txt", "/app/"]),
            "holds no 'missing.txt'",
        ),
        (
            step(StepKind::Copy, &["../etc/passwd", "/app/"]),
            "leaves the context",
        ),
        (step(StepKind::Copy, &["*.txt", "/app/"]), "wildcards"),
        (
            step(StepKind::Copy, &["hello.txt", "/app/", "", "99"]),
            "octal",
        ),
        (
            step(StepKind::Copy, &["hello.txt", "/app/", "bad user;"]),
            "not a user name",
        ),
        (
            Step {
                files_hash: Some("f".repeat(64)),
                ..step(StepKind::Copy, &["hello.txt", "/app/"])
            },
            "were not uploaded",
        ),
        (
            Step {
                files_hash: None,
                ..step(StepKind::Copy, &["hello.txt", "/app/"])
            },
            "filesHash",
        ),
        (step(StepKind::Env, &["A"]), "pairs"),
        (step(StepKind::Env, &["1A", "x"]), "not a variable name"),
        (step(StepKind::Env, &["A", "x\ny"]), "line break"),
        (step(StepKind::Run, &[" "]), "needs a command"),
        (step(StepKind::User, &["a b"]), "not a user name"),
        (step(StepKind::Workdir, &[]), "needs a path"),
    ];
    for (bad, want) in cases {
        let build = BuildSteps {
            steps: vec![step(StepKind::Run, &["true"]), bad],
            ..BuildSteps::default()
        };
        let err = translate(&build, &uploads()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StepsError::Step { step: 2, .. }), "{text}");
        assert!(text.contains(want), "{text} lacks {want}");
    }
}

#[test]
fn translate_when_directory_or_whole_upload_then_copied_from_its_folder() {
    let build = BuildSteps {
        steps: vec![
            step(StepKind::Copy, &["dir", "/srv", "user", "700"]),
            step(StepKind::Copy, &[".", "/all/"]),
        ],
        ..BuildSteps::default()
    };
    let t = translate(&build, &uploads()).unwrap();
    assert!(t
        .dockerfile
        .contains(&format!("COPY --chown=user [\"e2b/{HASH}/dir\",\"/srv\"]")));
    assert!(t.dockerfile.contains("chmod -R 700 '/srv'"));
    assert!(t
        .dockerfile
        .contains(&format!("COPY [\"e2b/{HASH}\",\"/all/\"]")));
    assert!(t.dockerfile.starts_with("FROM base\n"));
}
