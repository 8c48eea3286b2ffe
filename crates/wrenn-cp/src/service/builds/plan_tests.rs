use std::collections::BTreeMap;

use super::*;
use crate::service::builds::{cache_key::CacheKey, dockerfile::parse};

fn plan_of(source: &str, args: &[(&str, &str)]) -> BuildPlan {
    let args = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    plan(&parse(source).expect("parses"), &args).expect("plans")
}

const FILE: &str = "\
ARG BASE=base
FROM $BASE
ARG GREETING=hello
ENV APP=/srv/app
WORKDIR $APP
COPY --chown=user:user ./hello.txt data/
RUN echo \"$GREETING\" > greeting
USER user
RUN id -un
CMD [\"python3\", \"-m\", \"http.server\", \"8080\"]
HEALTHCHECK CMD curl -fs localhost:8080
";

#[test]
fn plan_when_file_then_steps_expanded_and_numbered() {
    let plan = plan_of(FILE, &[("GREETING", "hi there"), ("UNUSED", "1")]);
    assert_eq!(plan.base.to_string(), "base");
    let texts: Vec<&str> = plan.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "FROM base",
            "ARG GREETING",
            "ENV APP=/srv/app",
            "WORKDIR /srv/app",
            "COPY --chown=user:user [\"hello.txt\"] /srv/app/data/",
            "RUN echo \"$GREETING\" > greeting",
            "USER user",
            "RUN id -un",
            "CMD [\"python3\",\"-m\",\"http.server\",\"8080\"]",
            "HEALTHCHECK CMD curl -fs localhost:8080",
        ]
    );
    assert_eq!(plan.steps.last().unwrap().number, 10);
    assert_eq!(plan.unused_build_args, ["UNUSED"]);
}

#[test]
fn plan_when_run_then_env_has_args_and_user_defaults_to_root() {
    let plan = plan_of(FILE, &[("GREETING", "hi there")]);
    let StepAction::Run { argv, state } = &plan.steps[5].action else {
        panic!("RUN");
    };
    assert_eq!(argv[..2], ["/bin/sh", "-c"]);
    assert_eq!(state.env["GREETING"], "hi there");
    assert_eq!(state.env["APP"], "/srv/app");
    assert_eq!(
        (state.user.as_str(), state.workdir.as_str()),
        ("root", "/srv/app")
    );
    let StepAction::Run { state, .. } = &plan.steps[7].action else {
        panic!("RUN");
    };
    assert_eq!(state.user, "user");
}

#[test]
fn plan_when_cmd_and_healthcheck_then_start_spec() {
    let plan = plan_of(FILE, &[]);
    assert_eq!(
        plan.start.start_command.as_deref(),
        Some("python3 -m http.server 8080")
    );
    assert_eq!(
        plan.start.ready_command.as_deref(),
        Some("curl -fs localhost:8080")
    );
    assert_eq!(plan.start.user.as_deref(), Some("user"));
    assert_eq!(plan.start.workdir.as_deref(), Some("/srv/app"));
    assert_eq!(
        plan.start.env,
        BTreeMap::from([("APP".into(), "/srv/app".into())])
    );
}

#[test]
fn plan_when_exec_entrypoint_then_cmd_appended_quoted() {
    let plan = plan_of(
        "FROM base\nENTRYPOINT [\"/bin/run\", \"a b\"]\nCMD [\"--x\"]",
        &[],
    );
    assert_eq!(
        plan.start.start_command.as_deref(),
        Some("/bin/run 'a b' --x")
    );
    let plan = plan_of("FROM base\nENTRYPOINT /bin/run\nCMD [\"--x\"]", &[]);
    assert_eq!(plan.start.start_command.as_deref(), Some("/bin/run"));
    assert_eq!(
        plan_of("FROM base\nRUN true", &[]).start,
        StartSpec::default()
    );
}

#[test]
fn plan_when_copy_leaves_context_or_add_expands_to_url_then_refused() {
    let file = parse("FROM base\nCOPY ../secret /x").unwrap();
    let e = plan(&file, &BTreeMap::new()).unwrap_err();
    assert_eq!((e.code(), e.line()), ("invalid_dockerfile", Some(2)));
    let file = parse("FROM base\nARG U\nADD $U /x").unwrap();
    let args = BTreeMap::from([("U".to_string(), "https://x.test/a".to_string())]);
    assert_eq!(
        plan(&file, &args).unwrap_err().code(),
        "unsupported_instruction"
    );
}

#[test]
fn plan_when_from_expands_to_unknown_suite_then_unsupported_base_on_its_line() {
    let file = parse("ARG B=debian:sid\n\nFROM ${B}").unwrap();
    let e = plan(&file, &BTreeMap::new()).unwrap_err();
    assert_eq!((e.code(), e.line()), ("unsupported_base", Some(3)));
}

/// Keys of the disk-changing steps, chained from the base's root.
fn keys(plan: &BuildPlan) -> Vec<CacheKey> {
    let mut key = CacheKey::root("base");
    let mut keys = Vec::new();
    for step in &plan.steps {
        if let Some(input) = step.key_input(None) {
            key = key.child(&input);
            keys.push(key);
        }
    }
    keys
}

#[test]
fn keys_when_one_run_changes_then_only_it_and_later_differ() {
    let before = keys(&plan_of(FILE, &[]));
    let changed = FILE.replace("RUN echo", "RUN printf");
    let after = keys(&plan_of(&changed, &[]));
    assert_eq!(before.len(), 3);
    assert_eq!(before[0], after[0], "the COPY before the change");
    assert_ne!(before[1], after[1]);
    assert_ne!(before[2], after[2], "a later step's parent changed");
    assert_eq!(
        before,
        keys(&plan_of(FILE, &[])),
        "unchanged file, same keys"
    );
}

#[test]
fn keys_when_build_arg_or_env_changes_then_later_steps_differ() {
    let base = keys(&plan_of(FILE, &[]));
    let with_arg = keys(&plan_of(FILE, &[("GREETING", "other")]));
    assert_eq!(base[0], with_arg[0]);
    assert_ne!(base[1], with_arg[1]);
    let with_env = keys(&plan_of(
        &FILE.replace("USER user", "ENV X=1\nUSER user"),
        &[],
    ));
    assert_eq!(base[1], with_env[1]);
    assert_ne!(base[2], with_env[2]);
}

#[test]
fn quote_when_special_characters_then_single_quoted() {
    assert_eq!(quote("plain/path-1.0"), "plain/path-1.0");
    assert_eq!(quote("a b"), "'a b'");
    assert_eq!(quote("it's"), r"'it'\''s'");
    assert_eq!(quote(""), "''");
}

fn image_defaults() -> BaseDefaults {
    BaseDefaults {
        env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
        user: Some("app".into()),
        workdir: Some("/srv".into()),
        entrypoint: None,
        cmd: Some(vec!["/srv/serve".into(), "--port".into(), "80".into()]),
    }
}

#[test]
fn plan_with_when_image_defaults_then_steps_start_from_them() {
    let file = parse("FROM r.example/app:1\nENV PATH=/opt/bin:$PATH\nRUN whoami\n").unwrap();
    let plan = plan_with(&file, &BTreeMap::new(), &image_defaults()).unwrap();
    let StepAction::Run { state, .. } = &plan.steps[2].action else {
        panic!("not a RUN");
    };
    assert_eq!(state.env["PATH"], "/opt/bin:/usr/local/bin:/usr/bin:/bin");
    assert_eq!(
        (state.user.as_str(), state.workdir.as_str()),
        ("app", "/srv")
    );
    assert_eq!(
        plan.start.start_command.as_deref(),
        Some("/srv/serve --port 80")
    );
    assert_eq!(plan.start.user.as_deref(), Some("app"));
}

#[test]
fn plan_with_when_dockerfile_sets_entrypoint_then_image_cmd_dropped() {
    let file = parse("FROM r.example/app:1\nENTRYPOINT [\"/bin/run\"]\n").unwrap();
    let plan = plan_with(&file, &BTreeMap::new(), &image_defaults()).unwrap();
    assert_eq!(plan.start.start_command.as_deref(), Some("/bin/run"));
}

#[test]
fn plan_with_when_image_cmd_is_a_bare_shell_then_no_start_command() {
    let file = parse("FROM r.example/debian:12\nRUN true\n").unwrap();
    let defaults = BaseDefaults {
        cmd: Some(vec!["bash".into()]),
        ..BaseDefaults::default()
    };
    let plan = plan_with(&file, &BTreeMap::new(), &defaults).unwrap();
    assert_eq!(plan.start.start_command, None);
}
