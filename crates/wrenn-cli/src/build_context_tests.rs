use std::io::Read as _;
use std::os::unix::fs::symlink;

use flate2::read::GzDecoder;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// (path, kind, link target or content) of every entry, in archive order.
fn entries(archive: &[u8]) -> Result<Vec<(String, EntryType, String)>, io::Error> {
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    let mut out = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        let detail = if kind == EntryType::Symlink {
            entry
                .link_name()?
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            text
        };
        assert_eq!(entry.header().uid()?, 0, "{path} owned by root");
        out.push((path, kind, detail));
    }
    Ok(out)
}

fn tree() -> Result<tempfile::TempDir, io::Error> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    fs::create_dir_all(root.join("src/nested"))?;
    fs::create_dir_all(root.join("target/debug"))?;
    fs::create_dir_all(root.join("docs"))?;
    fs::write(root.join("b.txt"), "b")?;
    fs::write(root.join("a.txt"), "a")?;
    fs::write(root.join("src/main.py"), "print(1)")?;
    fs::write(root.join("src/nested/x.log"), "log")?;
    fs::write(root.join("target/debug/big"), "junk")?;
    fs::write(root.join("docs/keep.md"), "keep")?;
    fs::write(root.join("docs/drop.md"), "drop")?;
    fs::write(
        root.join(".dockerignore"),
        "# comment\ntarget\n**/*.log\ndocs\n!docs/keep.md\n",
    )?;
    symlink("a.txt", root.join("link-rel"))?;
    symlink("/etc/passwd", root.join("link-abs"))?;
    Ok(dir)
}

#[test]
fn pack_when_dockerignore_then_excluded_paths_absent_and_exceptions_kept() -> TestResult {
    let dir = tree()?;

    let packed = pack(dir.path())?;

    let names: Vec<String> = entries(&packed.archive)?
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(
        names,
        [
            ".dockerignore",
            "a.txt",
            "b.txt",
            "docs/",
            "docs/keep.md",
            "link-abs",
            "link-rel",
            "src/",
            "src/main.py",
            "src/nested/",
        ]
    );
    assert_eq!(packed.entries, names.len());
    Ok(())
}

#[test]
fn pack_when_symlinks_then_kept_as_links_not_followed() -> TestResult {
    let dir = tree()?;

    let all = entries(&pack(dir.path())?.archive)?;

    let link = |name: &str| all.iter().find(|(p, _, _)| p == name).cloned();
    assert_eq!(
        link("link-rel"),
        Some(("link-rel".into(), EntryType::Symlink, "a.txt".into()))
    );
    // The link itself travels; what it points at outside the context does not.
    assert_eq!(
        link("link-abs"),
        Some(("link-abs".into(), EntryType::Symlink, "/etc/passwd".into()))
    );
    Ok(())
}

#[test]
fn pack_when_any_tree_then_paths_relative_and_content_intact() -> TestResult {
    let dir = tree()?;

    let all = entries(&pack(dir.path())?.archive)?;

    for (path, _, _) in &all {
        assert!(!path.starts_with('/'), "{path}");
        assert!(!path.split('/').any(|p| p == ".."), "{path}");
    }
    let main = all.iter().find(|(p, _, _)| p == "src/main.py");
    assert_eq!(main.map(|(_, _, c)| c.as_str()), Some("print(1)"));
    Ok(())
}

#[test]
fn pack_when_packed_twice_then_same_bytes() -> TestResult {
    let dir = tree()?;

    let first = pack(dir.path())?;
    let second = pack(dir.path())?;

    assert_eq!(first.archive, second.archive);
    Ok(())
}

#[test]
fn pack_when_mode_set_then_kept() -> TestResult {
    let dir = tree()?;
    fs::set_permissions(dir.path().join("a.txt"), fs::Permissions::from_mode(0o755))?;

    let packed = pack(dir.path())?;
    let mut tar = tar::Archive::new(GzDecoder::new(&packed.archive[..]));
    let mut mode = None;
    for entry in tar.entries()? {
        let entry = entry?;
        if entry.path()?.to_string_lossy() == "a.txt" {
            mode = Some(entry.header().mode()? & 0o777);
        }
    }
    assert_eq!(mode, Some(0o755));
    Ok(())
}

#[test]
fn pack_when_not_a_directory_then_typed_error() -> TestResult {
    let dir = tree()?;

    let err = pack(&dir.path().join("a.txt")).err();
    let missing = pack(&dir.path().join("nope")).err();

    assert!(
        matches!(err, Some(PackError::NotADirectory { .. })),
        "{err:?}"
    );
    assert!(
        matches!(missing, Some(PackError::Read { .. })),
        "{missing:?}"
    );
    Ok(())
}

#[test]
fn pack_when_bad_ignore_pattern_then_line_named() -> TestResult {
    let dir = tree()?;
    fs::write(dir.path().join(".dockerignore"), "ok\n[broken\n")?;

    let err = pack(dir.path()).err().map(|e| e.to_string());

    assert!(
        err.as_deref().is_some_and(|e| e.contains("line 2")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn pack_when_long_path_then_archived_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let deep: PathBuf = (0..12).map(|i| format!("directory-{i:02}")).collect();
    fs::create_dir_all(dir.path().join(&deep))?;
    fs::write(dir.path().join(&deep).join("file.txt"), "deep")?;

    let all = entries(&pack(dir.path())?.archive)?;

    let want = format!("{}/file.txt", deep.to_string_lossy());
    assert!(want.len() > 100);
    assert!(all.iter().any(|(p, _, c)| *p == want && c == "deep"));
    Ok(())
}
