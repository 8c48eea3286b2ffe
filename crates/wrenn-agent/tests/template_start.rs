//! A template's start and ready commands, end to end with real QEMU VMs: a
//! sandbox snapshotted into a template whose start command is a web server
//! answers on its port right after create (restored from the template's
//! memory snapshot), again after pause and resume, and after a cold boot
//! (a shape with no snapshot); a ready command that never passes fails the
//! snapshot and the cold-boot create with the start log, leaving nothing.
//! Needs root, the kernel and the base image; run serially:
//! `cargo test -p wrenn-agent --test template_start -- --ignored --test-threads=1`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::{
        EgressSpec, SandboxError, SandboxId, SandboxManager, SandboxState, TemplateName,
        TemplateStartSpec,
    },
    vmm::qemu::QemuBackend,
};

mod common;

const LIMIT: Duration = Duration::from_secs(900);

async fn run(m: &SandboxManager<QemuBackend>, id: &SandboxId, cmd: &str) -> (i32, String) {
    let out = m.exec(id, ExecRequest::shell(cmd)).await.expect("exec");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.exit_code, text)
}

async fn sh(m: &SandboxManager<QemuBackend>, id: &SandboxId, cmd: &str) -> String {
    let (code, text) = run(m, id, cmd).await;
    assert_eq!(code, 0, "{cmd}: {text}");
    text
}

fn random_template(prefix: &str) -> TemplateName {
    let suffix = SandboxId::generate();
    format!("{prefix}-{}", &suffix.as_str()[..8])
        .parse()
        .expect("name")
}

fn web_server() -> TemplateStartSpec {
    TemplateStartSpec {
        start_command: "echo \"serving as $(id -un) in $PWD\"; exec python3 -m http.server 8000"
            .into(),
        ready_command: "curl -fsS -o /dev/null localhost:8000".into(),
        user: "user".into(),
        workdir: "/home/user/www".into(),
        env: BTreeMap::from([
            ("TEMPLATE_VAR".into(), "from-template".into()),
            ("SHARED_VAR".into(), "template".into()),
        ]),
        ready_timeout_secs: 60,
    }
}

/// Sandbox directories, netns and QEMU processes naming `needle` left.
fn leftovers(m: &SandboxManager<QemuBackend>, needle: &str) -> Vec<String> {
    let root = m.options().data.root().to_path_buf();
    let mut left = Vec::new();
    for dir in [root.join("snapshots/templates"), root.join("images")] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(needle) {
                left.push(entry.path().display().to_string());
            }
        }
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("qemu") && cmdline.contains(needle) {
            left.push(format!(
                "process {}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    left
}

fn netns_count() -> usize {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn start_when_template_has_web_server_then_it_answers_after_create_resume_and_cold_boot() {
    tokio::time::timeout(LIMIT, serves())
        .await
        .expect("in time");
}

async fn serves() {
    let m = common::manager(Duration::from_secs(180)).await;
    let template = random_template("starttest");
    let source = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("source sandbox");
    sh(
        &m,
        &source.id,
        "mkdir -p /home/user/www && echo hello-from-template > /home/user/www/hello.txt",
    )
    .await;

    let made = m
        .snapshot_to_template(&source.id, &template, true, Some(web_server()))
        .await
        .expect("snapshotted with its server ready");
    m.destroy(&source.id).await.expect("source destroyed");

    assert!(made.has_memory_snapshot);
    let image = m
        .options()
        .data
        .template_image(template.as_str())
        .expect("image");
    let recorded = TemplateStartSpec::for_image(&std::fs::canonicalize(&image).expect("image"))
        .expect("valid start.json")
        .expect("start.json beside the image");
    assert_eq!(recorded, web_server());

    // Restored from the memory snapshot: the server already runs.
    let mut config = common::config(
        EgressSpec::default(),
        BTreeMap::from([("SHARED_VAR".into(), "sandbox".into())]),
    );
    config.template = template.clone();
    let restored = m.create(config.clone()).await.expect("restored sandbox");
    assert!(restored.from_snapshot);
    assert_eq!(
        sh(&m, &restored.id, "curl -fsS localhost:8000/hello.txt").await,
        "hello-from-template\n",
        "the server answers right after create"
    );
    assert_eq!(
        sh(&m, &restored.id, "echo \"$TEMPLATE_VAR $SHARED_VAR\"").await,
        "from-template sandbox\n",
        "the template's env is the default, the sandbox's overrides it"
    );
    let owner = sh(
        &m,
        &restored.id,
        "ps -o user= -p \"$(pgrep -f 'http.server 8000' | head -n1)\"",
    )
    .await;
    assert_eq!(owner.trim(), "user");

    m.pause(&restored.id).await.expect("paused");
    let resumed = m.resume(&restored.id).await.expect("resumed");
    assert_eq!(resumed.state, SandboxState::Running);
    assert_eq!(
        sh(&m, &restored.id, "curl -fsS localhost:8000/hello.txt").await,
        "hello-from-template\n",
        "the server answers right after resume"
    );
    m.destroy(&restored.id).await.expect("destroyed");

    // A shape without a snapshot boots cold: create starts the server and
    // answers once it is ready.
    config.memory_mib = 640;
    let cold = m.create(config).await.expect("cold-booted sandbox");
    assert!(!cold.from_snapshot);
    assert_eq!(
        sh(&m, &cold.id, "curl -fsS localhost:8000/hello.txt").await,
        "hello-from-template\n",
        "the server answers right after a cold-boot create"
    );
    assert_eq!(
        sh(&m, &cold.id, "echo \"$TEMPLATE_VAR $SHARED_VAR\"").await,
        "from-template sandbox\n"
    );
    m.destroy(&cold.id).await.expect("destroyed");

    m.delete_template(&template).expect("template deleted");
    let left = leftovers(&m, template.as_str());
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn start_when_ready_command_never_passes_then_snapshot_and_cold_create_fail_leaving_nothing()
{
    tokio::time::timeout(LIMIT, never_ready())
        .await
        .expect("in time");
}

async fn never_ready() {
    let m = common::manager(Duration::from_secs(180)).await;
    let source = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("source sandbox");
    let broken = TemplateStartSpec {
        start_command: "echo start-log-marker; exec sleep 600".into(),
        ready_command: "echo not-listening >&2; false".into(),
        user: String::new(),
        workdir: String::new(),
        env: BTreeMap::new(),
        ready_timeout_secs: 3,
    };

    // An invalid spec is refused before anything is made.
    let bad = random_template("startbad");
    let mut invalid = broken.clone();
    invalid.workdir = "relative".into();
    let refused = m
        .snapshot_to_template(&source.id, &bad, true, Some(invalid))
        .await;
    assert!(
        matches!(&refused, Err(e @ SandboxError::InvalidStartSpec { .. }) if e.code() == "invalid_argument"),
        "{refused:?}"
    );
    assert!(!m.templates().exists(&bad));

    // The memory snapshot waits for ready, which never comes.
    let netns_before = netns_count();
    let template = random_template("startfail");
    let failed = m
        .snapshot_to_template(&source.id, &template, true, Some(broken.clone()))
        .await;
    let Err(SandboxError::TemplateSnapshotFailed { reason, .. }) = &failed else {
        panic!("expected a failed template snapshot, got {failed:?}");
    };
    assert!(reason.contains("start-log-marker"), "{reason}");
    assert!(reason.contains("not-listening"), "{reason}");
    assert!(!m.templates().exists(&template), "no half-made template");
    let left = leftovers(&m, template.as_str());
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(
        netns_count(),
        netns_before,
        "the template VM's netns is freed"
    );
    assert_eq!(
        m.get(&source.id).expect("source").state,
        SandboxState::Running
    );

    // Without a memory snapshot the image is made; a create boots cold and
    // fails with the log, its VM and network gone.
    let disk_only = random_template("startcold");
    m.snapshot_to_template(&source.id, &disk_only, false, Some(broken))
        .await
        .expect("disk-only template");
    m.destroy(&source.id).await.expect("source destroyed");
    let netns_before = netns_count();
    let mut config = common::config(EgressSpec::default(), BTreeMap::new());
    config.template = disk_only.clone();
    let created = m.create(config).await;
    let Err(SandboxError::StartFailed { id, reason }) = &created else {
        panic!("expected a failed start, got {created:?}");
    };
    assert!(reason.contains("start-log-marker"), "{reason}");
    assert_eq!(m.get(id).expect("listed").state, SandboxState::Error);
    assert_eq!(netns_count(), netns_before, "the sandbox's netns is freed");
    let left = leftovers(&m, id.as_str());
    assert!(left.is_empty(), "left behind: {left:?}");

    m.destroy(id).await.expect("failed sandbox destroyed");
    m.delete_template(&disk_only).expect("template deleted");
    assert!(leftovers(&m, disk_only.as_str()).is_empty());
}
