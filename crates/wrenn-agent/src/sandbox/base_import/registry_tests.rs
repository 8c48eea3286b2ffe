//! Against a real registry (tests/builds/oci-registry.sh starts one and
//! pushes `test/img:1`): `WRENN_TEST_OCI_REGISTRY=127.0.0.1:PORT`,
//! `WRENN_TEST_OCI_USER`, `WRENN_TEST_OCI_PASSWORD`; needs mkfs.ext4 and
//! debugfs. Run with `--ignored`.
use super::*;
use crate::paths::DataDir;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn source(reference: &str, password: &str) -> BaseSource {
    BaseSource::Oci {
        image: OciRef::parse(reference).expect("reference"),
        credentials: Some(RegistryCredentials {
            username: env("WRENN_TEST_OCI_USER"),
            password: password.to_owned(),
        }),
        insecure: true,
    }
}

/// A file of an ext4 image, read with debugfs (`None`: absent).
fn ext4_file(image: &Path, path: &str) -> Option<String> {
    let out = std::process::Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(image)
        .output()
        .expect("debugfs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    (!err.contains("File not found")).then_some(text)
}

#[tokio::test]
#[ignore = "needs a local registry (tests/builds/oci-registry.sh)"]
async fn import_when_local_registry_then_image_made_cached_and_refusals_typed() {
    let registry = env("WRENN_TEST_OCI_REGISTRY");
    let password = env("WRENN_TEST_OCI_PASSWORD");
    let tmp = tempfile::tempdir().expect("tmp");
    let catalog = TemplateCatalog::new(&DataDir::new(tmp.path()));
    std::fs::create_dir_all(catalog.images_dir()).expect("images");
    let envd = tmp.path().join("envd");
    std::fs::write(&envd, b"#!/bin/sh\necho fake envd\n").expect("envd");
    let settings = ImportSettings {
        debian_mirror: String::new(),
        owners: rustix::process::geteuid().is_root(),
        envd: Some(envd),
    };
    let reference = format!("{registry}/test/img:1");

    let first = import(&catalog, &source(&reference, &password), &settings)
        .await
        .expect("imported");
    assert!(!first.cached);
    assert!(first.content_key.starts_with("sha256:"));
    assert!(first.template.as_str().starts_with("oci-"));
    assert_eq!(first.defaults.env, vec!["OCI_TEST=from-config".to_owned()]);
    assert_eq!(first.defaults.working_dir, "/srv");
    let rootfs = catalog
        .version_dir(&first.template)
        .expect("published")
        .join("rootfs.ext4");
    assert_eq!(
        ext4_file(&rootfs, "/etc/oci-marker").as_deref(),
        Some("from-oci-image\n")
    );
    assert_eq!(
        ext4_file(&rootfs, "/etc/oci-layer2").as_deref(),
        Some("second-layer\n")
    );
    assert_eq!(
        ext4_file(&rootfs, "/etc/oci-removed"),
        None,
        "whiteout not applied"
    );
    assert!(ext4_file(&rootfs, "/usr/bin/envd").is_some_and(|t| t.contains("fake envd")));
    assert!(ext4_file(&rootfs, "/etc/passwd").is_some_and(|t| t.contains("\nuser:x:")));

    let second = import(&catalog, &source(&reference, &password), &settings)
        .await
        .expect("cached");
    assert!(second.cached);
    assert_eq!(
        (second.template, second.defaults),
        (first.template, first.defaults)
    );

    let wrong = import(&catalog, &source(&reference, "wrong-password"), &settings).await;
    assert_eq!(wrong.expect_err("refused").code(), "registry_auth_failed");
    let missing = import(
        &catalog,
        &source(&format!("{registry}/test/img:nope"), &password),
        &settings,
    )
    .await;
    assert_eq!(missing.expect_err("missing").code(), "image_not_found");
    let closed = import(
        &catalog,
        &source("127.0.0.1:1/test/img:1", &password),
        &settings,
    )
    .await;
    assert_eq!(closed.expect_err("closed").code(), "registry_unreachable");
    let leftovers: Vec<_> = std::fs::read_dir(catalog.images_dir())
        .expect("images")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
