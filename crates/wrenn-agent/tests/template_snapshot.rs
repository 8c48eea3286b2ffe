//! A sandbox's disk turned into a template, end to end with real QEMU VMs:
//! write a file, snapshot into a new template with its memory snapshot,
//! restore a sandbox of it, read
//! the file back, delete the template. Needs root, the kernel and the base
//! image; run serially: `cargo test -p wrenn-agent --test template_snapshot
//! -- --ignored --test-threads=1`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::{EgressSpec, SandboxError, SandboxId, SandboxManager, SandboxState, TemplateName},
    vmm::qemu::QemuBackend,
};

mod common;

const LIMIT: Duration = Duration::from_secs(600);

async fn sh(m: &SandboxManager<QemuBackend>, id: &SandboxId, cmd: &str) -> String {
    let out = m.exec(id, ExecRequest::shell(cmd)).await.expect("exec");
    assert_eq!(
        out.exit_code,
        0,
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn random_template() -> TemplateName {
    let suffix = wrenn_agent::sandbox::SandboxId::generate();
    format!("snaptest-{}", &suffix.as_str()[..8])
        .parse()
        .expect("name")
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn snapshot_when_file_written_then_new_template_boots_with_it_and_deletes_cleanly() {
    tokio::time::timeout(LIMIT, scenario())
        .await
        .expect("finished in time");
}

async fn scenario() {
    let m = common::manager(Duration::from_secs(180)).await;
    let template = random_template();
    let source = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("source sandbox");
    sh(&m, &source.id, "echo snapshot-me > /home/user/marker.txt").await;

    let made = m
        .snapshot_to_template(&source.id, &template, true, None)
        .await
        .expect("snapshotted");
    let again = m
        .snapshot_to_template(&source.id, &template, false, None)
        .await;

    assert_eq!(made.name, template);
    assert!(made.disk_mib > 0);
    assert!(made.has_memory_snapshot);
    assert!(
        matches!(again, Err(SandboxError::TemplateExists(_))),
        "{again:?}"
    );
    assert_eq!(
        m.get(&source.id).expect("source").state,
        SandboxState::Running
    );
    assert_eq!(
        sh(&m, &source.id, "echo still-alive").await,
        "still-alive\n"
    );
    assert!(m.templates().list().iter().any(|t| t.name == template));

    let mut config = common::config(EgressSpec::default(), BTreeMap::new());
    config.template = template.clone();
    let clone = m.create(config).await.expect("sandbox of the new template");
    assert!(
        clone.from_snapshot,
        "restored from the template's memory snapshot"
    );
    assert_eq!(
        sh(&m, &clone.id, "cat /home/user/marker.txt").await,
        "snapshot-me\n"
    );
    let in_use = m.delete_template(&template);
    assert!(
        matches!(in_use, Err(SandboxError::TemplateInUse { .. })),
        "{in_use:?}"
    );

    m.destroy(&clone.id).await.expect("clone destroyed");
    m.destroy(&source.id).await.expect("source destroyed");
    m.delete_template(&template).expect("template deleted");

    assert!(!m.templates().exists(&template));
    assert!(m.options().data.template_image(template.as_str()).is_err());
    let snapshots = m.options().data.root().join("snapshots/templates");
    let left: Vec<_> = std::fs::read_dir(snapshots)
        .expect("snapshots dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(template.as_str())
        })
        .collect();
    assert!(left.is_empty(), "memory snapshots left: {left:?}");
}
