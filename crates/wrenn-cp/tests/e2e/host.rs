//! What the host holds for sandboxes: network namespaces, QEMU processes,
//! run directories and template images under the agent's data directory.
use std::{
    collections::BTreeSet,
    path::PathBuf,
    time::{Duration, Instant},
};

/// The agent's data directory (`WRENN_DATA_DIR`, default /var/lib/wrenn).
pub fn data_dir() -> PathBuf {
    std::env::var_os("WRENN_DATA_DIR").map_or_else(|| "/var/lib/wrenn".into(), PathBuf::from)
}

fn names_in(dir: PathBuf) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The template images on the host (`base` and the `tm-*` of snapshots).
pub fn images() -> BTreeSet<String> {
    names_in(data_dir().join("images"))
}

/// Sandbox network namespaces (`wrn-*`).
pub fn sandbox_netns() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("wrn-"))
        .map(str::to_owned)
        .collect()
}

/// Command lines of QEMU processes that mention `id`.
pub fn qemu_of(id: &str) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-a", "-f", &format!("qemu-system.*{id}")])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What is left of the sandboxes `ids`: empty when the host is clean.
pub fn leftovers(ids: &[&str]) -> Vec<String> {
    let mut left: Vec<String> = sandbox_netns()
        .into_iter()
        .map(|n| format!("network namespace {n}"))
        .collect();
    for id in ids {
        let qemu = qemu_of(id);
        if !qemu.is_empty() {
            left.push(format!("qemu of {id}: {qemu}"));
        }
        let dir = data_dir().join("sandboxes").join(id);
        if dir.exists() {
            left.push(format!("run directory {}", dir.display()));
        }
    }
    left
}

/// The probes of [`leftovers`] see a running sandbox (so that their silence
/// after it is gone means something).
pub fn assert_visible(id: &str) {
    assert!(!qemu_of(id).is_empty(), "no qemu process of {id} found");
    let dir = data_dir().join("sandboxes").join(id);
    assert!(dir.is_dir(), "no run directory {}", dir.display());
    assert!(!sandbox_netns().is_empty(), "no wrn-* network namespace");
}

/// Waits (bounded) until nothing of the sandboxes `ids` is left.
pub async fn assert_clean(ids: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = leftovers(ids);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left on the host: {left:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
