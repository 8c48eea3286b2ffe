use std::path::Path;

use super::*;

/// One tar entry to write into a test layer.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Device(&'a str),
}

/// A tar layer; names are written raw (no checks), as a hostile layer may.
fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, data, link): (&str, tar::EntryType, &[u8], Option<&str>) = match e {
            E::File(n, d) => (n, tar::EntryType::Regular, d, None),
            E::Dir(n) => (n, tar::EntryType::Directory, b"", None),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", Some(t)),
            E::Hardlink(n, t) => (n, tar::EntryType::Link, b"", Some(t)),
            E::Device(n) => (n, tar::EntryType::Char, b"", None),
        };
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        builder.append(&h, data).expect("append");
    }
    builder.into_inner().expect("tar")
}

fn apply(root: &Path, layers: &[Vec<u8>]) -> Result<UnpackReport, UnpackError> {
    let mut u = Unpacker::new(root, false);
    for (i, l) in layers.iter().enumerate() {
        u.apply(i + 1, l.as_slice())?;
    }
    Ok(u.report().clone())
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

#[test]
fn apply_when_layers_stack_then_later_files_replace_earlier() {
    let dir = tempfile::tempdir().expect("tmp");
    let l1 = layer(&[
        E::Dir("etc/"),
        E::File("etc/a", b"one"),
        E::File("etc/b", b"b"),
    ]);
    let l2 = layer(&[E::File("etc/a", b"two")]);
    apply(dir.path(), &[l1, l2]).expect("apply");
    assert_eq!(read(dir.path(), "etc/a").as_deref(), Some("two"));
    assert_eq!(read(dir.path(), "etc/b").as_deref(), Some("b"));
}

#[test]
fn apply_when_whiteout_then_lower_file_removed() {
    let dir = tempfile::tempdir().expect("tmp");
    let l1 = layer(&[
        E::Dir("etc/"),
        E::File("etc/a", b"1"),
        E::File("etc/b", b"2"),
    ]);
    let l2 = layer(&[E::File("etc/.wh.a", b"")]);
    let report = apply(dir.path(), &[l1, l2]).expect("apply");
    assert!(!dir.path().join("etc/a").exists());
    assert!(!dir.path().join("etc/.wh.a").exists());
    assert_eq!(read(dir.path(), "etc/b").as_deref(), Some("2"));
    assert_eq!(report.whiteouts, 1);
}

#[test]
fn apply_when_opaque_whiteout_then_lower_entries_gone_and_own_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let l1 = layer(&[E::Dir("d/"), E::File("d/old", b"1"), E::Dir("d/sub/")]);
    let l2 = layer(&[
        E::Dir("d/"),
        E::File("d/new", b"2"),
        E::File("d/.wh..wh..opq", b""),
    ]);
    apply(dir.path(), &[l1, l2]).expect("apply");
    assert!(!dir.path().join("d/old").exists());
    assert!(!dir.path().join("d/sub").exists());
    assert_eq!(read(dir.path(), "d/new").as_deref(), Some("2"));
}

#[test]
fn apply_when_dotdot_above_root_then_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let inner = dir.path().join("root");
    std::fs::create_dir(&inner).expect("mkdir");
    let evil = layer(&[E::File("../evil", b"x")]);
    let err = apply(&inner, &[evil]).expect_err("refused");
    assert!(matches!(err, UnpackError::Escape { .. }), "{err}");
    assert!(!dir.path().join("evil").exists());
}

#[test]
fn apply_when_file_under_absolute_symlink_then_written_inside_root() {
    let dir = tempfile::tempdir().expect("tmp");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let abs = outside.display().to_string();
    let l1 = layer(&[E::Symlink("link", &abs)]);
    let l2 = layer(&[E::File("link/pwned", b"x")]);
    apply(&root, &[l1, l2]).expect("apply");
    assert!(!outside.join("pwned").exists(), "wrote through the symlink");
    // Resolved as if the root were `/`: `<root>/<outside path>/pwned`.
    let inside = root.join(abs.trim_start_matches('/')).join("pwned");
    assert!(inside.exists());
}

#[test]
fn apply_when_relative_symlink_climbs_then_stays_inside_root() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let l1 = layer(&[E::Symlink("up", "../../../..")]);
    let l2 = layer(&[E::File("up/escaped", b"x")]);
    apply(&root, &[l1, l2]).expect("apply");
    assert!(!dir.path().join("escaped").exists());
    assert!(root.join("escaped").exists());
}

#[test]
fn apply_when_whiteout_through_symlink_then_outside_untouched() {
    let dir = tempfile::tempdir().expect("tmp");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    std::fs::write(outside.join("keep"), "k").expect("write");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let abs = outside.display().to_string();
    let l1 = layer(&[E::Symlink("link", &abs)]);
    let l2 = layer(&[E::File("link/.wh.keep", b"")]);
    apply(&root, &[l1, l2]).expect("apply");
    assert!(outside.join("keep").exists());
}

#[test]
fn apply_when_file_replaces_symlink_then_target_not_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let outside = dir.path().join("victim");
    std::fs::write(&outside, "safe").expect("write");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let abs = outside.display().to_string();
    let l1 = layer(&[E::Symlink("f", &abs)]);
    let l2 = layer(&[E::File("f", b"overwritten")]);
    apply(&root, &[l1, l2]).expect("apply");
    assert_eq!(std::fs::read_to_string(&outside).expect("read"), "safe");
    assert_eq!(read(&root, "f").as_deref(), Some("overwritten"));
}

#[test]
fn apply_when_hardlink_above_root_then_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    let evil = layer(&[E::Hardlink("h", "../../etc/passwd")]);
    let err = apply(&root, &[evil]).expect_err("refused");
    assert!(matches!(err, UnpackError::Escape { .. }), "{err}");
}

#[test]
fn apply_when_hardlink_inside_then_same_content() {
    let dir = tempfile::tempdir().expect("tmp");
    let l = layer(&[E::File("a", b"data"), E::Hardlink("b", "a")]);
    apply(dir.path(), &[l]).expect("apply");
    assert_eq!(read(dir.path(), "b").as_deref(), Some("data"));
}

#[test]
fn apply_when_device_node_then_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    let l = layer(&[E::Dir("dev/"), E::Device("dev/sda")]);
    let report = apply(dir.path(), &[l]).expect("apply");
    assert_eq!(report.devices_skipped, 1);
    assert!(!dir.path().join("dev/sda").exists());
}
