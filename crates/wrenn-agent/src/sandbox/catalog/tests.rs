use super::*;

fn catalog() -> (tempfile::TempDir, TemplateCatalog, DataDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::new(dir.path());
    (dir, TemplateCatalog::new(&data), data)
}

fn name(text: &str) -> TemplateName {
    text.parse().expect("template name")
}

fn publish(catalog: &TemplateCatalog, template: &str, bytes: usize) -> StagedImage {
    let staged = catalog.stage(&name(template)).expect("staged");
    std::fs::write(staged.rootfs(), vec![0u8; bytes]).expect("rootfs");
    staged
}

#[test]
fn publish_when_new_then_data_dir_finds_the_image() {
    let (_dir, catalog, data) = catalog();
    publish(&catalog, "snap", 3 * 1024 * 1024)
        .publish()
        .expect("published");

    let image = data.template_image("snap").expect("found");
    let info = catalog.info(&name("snap")).expect("listed");

    assert!(image.is_file());
    assert_eq!(info.disk_mib, 3);
    assert!(!info.has_memory_snapshot);
    assert!(info.created_at_ms > 0);
}

#[test]
fn publish_when_name_taken_then_exists_and_staging_removed() {
    let (dir, catalog, _data) = catalog();
    publish(&catalog, "snap", 10).publish().expect("first");

    let err = publish(&catalog, "snap", 10).publish().expect_err("second");

    assert!(matches!(err, PublishError::Exists(_)), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("images"))
        .expect("images")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("snap")]);
}

#[test]
fn stage_when_dropped_unpublished_then_nothing_left() {
    let (dir, catalog, _data) = catalog();
    drop(publish(&catalog, "snap", 10));
    let left = std::fs::read_dir(dir.path().join("images"))
        .expect("images")
        .count();
    assert_eq!(left, 0);
}

#[test]
fn list_when_staging_in_progress_then_only_published_templates() {
    let (_dir, catalog, _data) = catalog();
    publish(&catalog, "b", 10).publish().expect("b");
    publish(&catalog, "a", 10).publish().expect("a");
    let _staging = publish(&catalog, "c", 10);

    let names: Vec<String> = catalog
        .list()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();

    assert_eq!(names, ["a", "b"]);
}

#[test]
fn remove_when_similar_names_then_only_own_snapshots_go() {
    let (dir, catalog, data) = catalog();
    publish(&catalog, "a", 10).publish().expect("a");
    let version = std::fs::canonicalize(data.template_image("a").expect("a"))
        .expect("canonical")
        .parent()
        .and_then(Path::file_name)
        .expect("version")
        .to_string_lossy()
        .into_owned();
    let snapshots = dir.path().join("snapshots/templates");
    let own = snapshots.join(format!("a-{version}-1c512m"));
    let other = snapshots.join("a-b-0123456789abcdef-1c512m");
    for d in [&own, &other] {
        std::fs::create_dir_all(d).expect("snapshot dir");
        std::fs::write(d.join(SNAPSHOT_COMPLETE), b"").expect("marker");
    }
    assert!(catalog.info(&name("a")).expect("a").has_memory_snapshot);

    catalog.remove(&name("a")).expect("removed");

    assert!(!catalog.exists(&name("a")));
    assert!(!own.exists());
    assert!(other.exists());
}

#[test]
fn is_shape_when_variants_then_only_n_c_m_m() {
    assert!(is_shape("1c512m"));
    assert!(!is_shape("0123456789abcdef-1c512m"));
    assert!(!is_shape("c512m"));
    assert!(!is_shape("1c512"));
}

#[test]
fn is_shape_when_memory_format_suffix_then_shape() {
    assert!(is_shape("1c512m-rf"));
    assert!(is_shape("2c1024m-firecracker"));
    assert!(!is_shape("1c512m-other"));
}

#[test]
fn sweep_staging_when_agent_died_mid_stage_and_mid_remove_then_only_published_stay() {
    let (_dir, catalog, _data) = catalog();
    publish(&catalog, "kept", 1024)
        .publish()
        .expect("published");
    publish(&catalog, "gone", 1024)
        .publish()
        .expect("published");
    let staged = publish(&catalog, "half", 1024);
    // A killed agent runs no destructors: the staging area stays.
    std::mem::forget(staged);
    // A remove killed between its rename and its delete.
    std::fs::rename(
        catalog.images_dir().join("gone"),
        catalog.images_dir().join(".del-gone-abcdefgh"),
    )
    .expect("renamed away");

    let removed = catalog.sweep_staging();

    let left: Vec<String> = std::fs::read_dir(catalog.images_dir())
        .expect("images")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(removed, 2);
    assert_eq!(left, vec!["kept".to_owned()]);
    assert!(catalog.info(&name("kept")).is_some());
}
