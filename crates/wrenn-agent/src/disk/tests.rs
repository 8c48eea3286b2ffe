use std::os::unix::fs::MetadataExt;

use super::*;

/// A 4 MiB raw template: data in the first and last 64 KiB, zeros between.
fn template(dir: &Path) -> PathBuf {
    let path = dir.join("rootfs.ext4");
    let mut bytes = vec![0u8; 4 * MIB as usize];
    bytes[..65536].fill(0x11);
    let len = bytes.len();
    bytes[len - 65536..].fill(0x22);
    std::fs::write(&path, bytes).expect("write template");
    path
}

fn reflink_works(dir: &Path) -> bool {
    detect_raw_strategy(dir).expect("probe").strategy == DiskStrategy::Reflink
}

#[tokio::test]
async fn sparse_copy_when_zero_blocks_then_same_content_fewer_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = template(dir.path());
    let dest = dir.path().join("sb.ext4");

    create_disk(DiskStrategy::SparseCopy, &template, &dest, None)
        .await
        .expect("copy");

    assert_eq!(
        std::fs::read(&dest).expect("read"),
        std::fs::read(&template).expect("read")
    );
    let allocated = std::fs::metadata(&dest).expect("meta").blocks() * 512;
    assert!(
        allocated < 4 * MIB,
        "allocated {allocated} bytes: not sparse"
    );
}

#[tokio::test]
async fn sparse_copy_when_larger_size_then_grown_with_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = template(dir.path());
    let dest = dir.path().join("sb.ext4");

    create_disk(DiskStrategy::SparseCopy, &template, &dest, Some(8))
        .await
        .expect("copy");

    let bytes = std::fs::read(&dest).expect("read");
    assert_eq!(bytes.len() as u64, 8 * MIB);
    assert!(bytes[4 * MIB as usize..].iter().all(|&b| b == 0));
}

#[tokio::test]
async fn create_when_smaller_than_template_then_too_small_and_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = template(dir.path());
    let dest = dir.path().join("sb.ext4");

    let err = create_disk(DiskStrategy::SparseCopy, &template, &dest, Some(3))
        .await
        .expect_err("small");

    assert!(
        matches!(
            err,
            DiskError::TooSmall {
                requested_mib: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(!dest.exists());
}

#[tokio::test]
async fn create_when_dest_exists_then_error_and_file_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = template(dir.path());
    let dest = dir.path().join("sb.ext4");
    std::fs::write(&dest, b"keep").expect("write");

    let err = create_disk(DiskStrategy::SparseCopy, &template, &dest, None)
        .await
        .expect_err("exists");

    assert!(matches!(err, DiskError::Exists(_)), "{err}");
    assert_eq!(std::fs::read(&dest).expect("read"), b"keep");
}

#[tokio::test]
async fn create_when_template_missing_then_template_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = create_disk(
        DiskStrategy::SparseCopy,
        &dir.path().join("none.ext4"),
        &dir.path().join("sb.ext4"),
        None,
    )
    .await
    .expect_err("missing");
    assert!(matches!(err, DiskError::Template { .. }), "{err}");
}

#[tokio::test]
async fn qcow2_overlay_when_larger_size_then_backed_by_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    let template = template(dir.path());
    let dest = dir.path().join("sb.qcow2");

    create_disk(DiskStrategy::Qcow2Overlay, &template, &dest, Some(16))
        .await
        .expect("overlay");

    let out = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&dest)
        .output()
        .expect("qemu-img info");
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(info["virtual-size"], 16 * MIB);
    assert_eq!(info["backing-filename-format"], "raw");
    assert_eq!(info["backing-filename"], template.display().to_string());
}

#[tokio::test]
async fn qcow2_overlay_when_template_is_qcow2_then_size_validated_against_virtual_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = template(dir.path());
    let base = dir.path().join("base.qcow2");
    create_disk(DiskStrategy::Qcow2Overlay, &raw, &base, Some(16))
        .await
        .expect("base");

    let err = create_disk(
        DiskStrategy::Qcow2Overlay,
        &base,
        &dir.path().join("sb.qcow2"),
        Some(8),
    )
    .await
    .expect_err("smaller than virtual size");

    assert!(matches!(err, DiskError::TooSmall { .. }), "{err}");
}

#[tokio::test]
async fn reflink_when_template_is_qcow2_then_not_raw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = template(dir.path());
    let base = dir.path().join("base.qcow2");
    create_disk(DiskStrategy::Qcow2Overlay, &raw, &base, None)
        .await
        .expect("base");

    let err = create_disk(
        DiskStrategy::Reflink,
        &base,
        &dir.path().join("sb.ext4"),
        None,
    )
    .await
    .expect_err("raw only");

    assert!(matches!(err, DiskError::NotRaw { .. }), "{err}");
}

#[tokio::test]
async fn reflink_when_unsupported_here_then_error_and_no_partial_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    if reflink_works(dir.path()) {
        eprintln!("skipped: this file system supports reflinks");
        return;
    }
    let template = template(dir.path());
    let dest = dir.path().join("sb.ext4");

    let err = create_disk(DiskStrategy::Reflink, &template, &dest, None)
        .await
        .expect_err("no reflink");

    assert!(matches!(err, DiskError::Reflink { .. }), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn reflink_when_supported_here_then_same_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    if !reflink_works(dir.path()) {
        eprintln!("skipped: no reflink support in {}", dir.path().display());
        return;
    }
    let template = template(dir.path());
    let dest = dir.path().join("sb.ext4");

    create_disk(DiskStrategy::Reflink, &template, &dest, Some(8))
        .await
        .expect("clone");

    let bytes = std::fs::read(&dest).expect("read");
    assert_eq!(
        &bytes[..4 * MIB as usize],
        &std::fs::read(&template).expect("read")[..]
    );
}

#[tokio::test]
async fn detect_when_probed_then_reason_given_and_probe_files_removed() {
    let dir = tempfile::tempdir().expect("tempdir");

    let choice = detect_raw_strategy(dir.path()).expect("probe");

    assert_ne!(choice.strategy, DiskStrategy::Qcow2Overlay);
    assert!(
        choice.reason.contains(&dir.path().display().to_string()),
        "{}",
        choice.reason
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}
