//! ImportBase: a build's `FROM debian:<suite>` or `FROM <OCI image>` made
//! into a template image on this host (docs/architecture.md, "Template
//! builds"), named by its content key so a second build finds it:
//! `oci-<40 hex of the manifest digest, the recipe and envd's source>`
//! (the linux/amd64 image manifest's), `debian-<suite>-<16 hex of the
//! recipe and envd's source>`: envd comes from this host's `base` image, so
//! an upgraded envd (a new `base` version) makes new imports rather than
//! reusing ones that embed the old one. The tree is built
//! in a `.tmp-import-*` directory of the images folder (swept at start-up
//! like every `.tmp-*`), the image staged and published by one rename;
//! any failure leaves neither.
//!
//! `source` parses the request, `registry` pulls, `unpack` applies the
//! layers, `tree` confines paths to the tree, `rootfs` adds envd and the
//! guest files and runs debootstrap and mkfs, `image_config` keeps the
//! image's defaults.
mod image_config;
mod registry;
mod rootfs;
pub mod source;
mod tree;
mod unpack;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

use sha2::{Digest, Sha256};

pub use image_config::ImageDefaults;
pub use registry::PullError;
pub use source::{BaseSource, DebianSuite, OciRef, RegistryCredentials};

use super::{catalog::PublishError, id::random_string, TemplateCatalog, TemplateName};
use image_config::BASE_CONFIG_FILE;
use rootfs::RootfsError;
use unpack::{UnpackError, Unpacker};

/// Bumped when what a Debian import makes changes (the cache key's input).
const DEBIAN_RECIPE: &str = "wrenn-debian-base/1";
/// Bumped when what an OCI import makes changes (the cache key's input):
/// 2 creates missing directories 0755 and /tmp 1777 whatever the agent's
/// umask.
const OCI_RECIPE: &str = "wrenn-oci-base/2";

/// Host settings for imports.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// `WRENN_DEBIAN_MIRROR`, default `http://deb.debian.org/debian`.
    pub debian_mirror: String,
    /// Keep file owners from layers (the agent runs as root).
    pub owners: bool,
    /// `WRENN_IMPORT_ENVD`: the envd binary to inject; unset (the usual
    /// case): the one in this host's `base` image.
    pub envd: Option<PathBuf>,
}

impl ImportSettings {
    pub fn from_env() -> Self {
        Self {
            debian_mirror: std::env::var("WRENN_DEBIAN_MIRROR")
                .ok()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "http://deb.debian.org/debian".into()),
            owners: rustix::process::geteuid().is_root(),
            envd: std::env::var_os("WRENN_IMPORT_ENVD")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// What an import made or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub template: TemplateName,
    /// The content key: `sha256:<hex>` of the image manifest, or
    /// `debian:<suite>:<hex>`.
    pub content_key: String,
    /// It was here already.
    pub cached: bool,
    pub defaults: ImageDefaults,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportBaseError {
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error("the image config is not valid JSON")]
    BadConfig,
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("'{0}' is not a template name")]
    Name(String),
    #[error("storage error on {path}")]
    Storage {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ImportBaseError {
    /// The stable code the control plane shows as the build's error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Pull(PullError::Auth(_)) => "registry_auth_failed",
            Self::Pull(PullError::NotFound(_)) => "image_not_found",
            Self::Pull(PullError::NoPlatform(_)) => "image_platform_missing",
            Self::Pull(PullError::Unreachable { .. }) => "registry_unreachable",
            Self::Pull(PullError::LayerType { .. }) => "image_unsupported",
            Self::Pull(PullError::DigestMismatch { .. } | PullError::Protocol(_)) => {
                "registry_protocol"
            }
            Self::Unpack(UnpackError::Escape { .. }) | Self::BadConfig => "image_invalid",
            Self::Unpack(UnpackError::Tar { .. }) => "image_invalid",
            Self::Rootfs(RootfsError::Tool {
                tool: "debootstrap",
                ..
            }) => "debootstrap_failed",
            Self::Rootfs(RootfsError::NoEnvd) => "base_import_failed",
            Self::Pull(PullError::Storage { .. })
            | Self::Unpack(UnpackError::Write { .. })
            | Self::Rootfs(_)
            | Self::Publish(_)
            | Self::Name(_)
            | Self::Storage { .. } => "base_import_failed",
        }
    }

    /// Whether the message may go to the build's log (no host paths).
    pub fn is_public(&self) -> bool {
        !matches!(
            self,
            Self::Storage { .. }
                | Self::Publish(_)
                | Self::Pull(PullError::Storage { .. })
                | Self::Unpack(UnpackError::Write { .. })
                | Self::Rootfs(RootfsError::Spawn { .. } | RootfsError::Tree(_))
        )
    }
}

/// One import per template name at a time on this host.
fn lock_for(name: &TemplateName) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(name.to_string()).or_default().clone()
}

/// A working directory removed on drop.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.0) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), %err, "cannot remove an import's work dir");
            }
        }
    }
}

fn storage(path: &Path) -> impl FnOnce(std::io::Error) -> ImportBaseError + '_ {
    move |source| ImportBaseError::Storage {
        path: path.display().to_string(),
        source,
    }
}

/// Built from hex and fixed words only, so always valid in practice.
fn name(text: String) -> Result<TemplateName, ImportBaseError> {
    text.parse().map_err(|_| ImportBaseError::Name(text))
}

/// Makes (or finds) the template image for `source` in `catalog`.
pub async fn import(
    catalog: &TemplateCatalog,
    source: &BaseSource,
    settings: &ImportSettings,
) -> Result<Imported, ImportBaseError> {
    match source {
        BaseSource::Debian(suite) => import_debian(catalog, suite, settings).await,
        BaseSource::Oci {
            image,
            credentials,
            insecure,
        } => import_oci(catalog, image, credentials.as_ref(), *insecure, settings).await,
    }
}

fn cached(
    catalog: &TemplateCatalog,
    template: &TemplateName,
    content_key: &str,
) -> Option<Imported> {
    catalog.info(template)?;
    let dir = catalog.version_dir(template)?;
    let defaults = std::fs::read(dir.join(BASE_CONFIG_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    Some(Imported {
        template: template.clone(),
        content_key: content_key.to_owned(),
        cached: true,
        defaults,
    })
}

fn work_dir(
    catalog: &TemplateCatalog,
    template: &TemplateName,
) -> Result<WorkDir, ImportBaseError> {
    let dir = catalog
        .images_dir()
        .join(format!(".tmp-import-{template}-{}", random_string(8)));
    std::fs::create_dir_all(dir.join("tree")).map_err(storage(&dir))?;
    Ok(WorkDir(dir))
}

async fn import_debian(
    catalog: &TemplateCatalog,
    suite: &DebianSuite,
    settings: &ImportSettings,
) -> Result<Imported, ImportBaseError> {
    let recipe = format!(
        "{DEBIAN_RECIPE}\n{}\n{}\n{}",
        suite.as_str(),
        rootfs::DEBIAN_PACKAGES,
        envd_source(catalog, settings)?
    );
    let hex = super::template_manifest::hex(&Sha256::digest(recipe.as_bytes()));
    let template = name(format!("debian-{}-{}", suite.as_str(), &hex[..16]))?;
    let content_key = format!("debian:{}:{}", suite.as_str(), &hex[..16]);
    let lock = lock_for(&template);
    let _held = lock.lock().await;
    if let Some(found) = cached(catalog, &template, &content_key) {
        return Ok(found);
    }
    let work = work_dir(catalog, &template)?;
    let envd = envd(catalog, &work.0, settings).await?;
    let tree = work.0.join("tree");
    tracing::info!(
        suite = suite.as_str(),
        mirror = %settings.debian_mirror,
        "debootstrap of a debian base"
    );
    rootfs::debootstrap(suite.as_str(), &tree, &settings.debian_mirror).await?;
    let label = format!("debian:{}", suite.as_str());
    publish(
        catalog,
        &template,
        &tree,
        &envd,
        &label,
        &ImageDefaults::default(),
        settings,
    )
    .await?;
    Ok(Imported {
        template,
        content_key,
        cached: false,
        defaults: ImageDefaults::default(),
    })
}

async fn import_oci(
    catalog: &TemplateCatalog,
    image: &OciRef,
    credentials: Option<&RegistryCredentials>,
    insecure: bool,
    settings: &ImportSettings,
) -> Result<Imported, ImportBaseError> {
    let registry = registry::Registry::new(image, credentials, insecure);
    let resolved = registry.resolve().await?;
    let hex = resolved
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64)
        .ok_or_else(|| PullError::Protocol(format!("unsupported digest {}", resolved.digest)))?
        .to_owned();
    let recipe = format!("{OCI_RECIPE}\n{hex}\n{}", envd_source(catalog, settings)?);
    let key = super::template_manifest::hex(&Sha256::digest(recipe.as_bytes()));
    let template = name(format!("oci-{}", &key[..40]))?;
    let lock = lock_for(&template);
    let _held = lock.lock().await;
    if let Some(found) = cached(catalog, &template, &resolved.digest) {
        return Ok(found);
    }
    let defaults =
        ImageDefaults::from_config(&resolved.config).ok_or(ImportBaseError::BadConfig)?;
    let work = work_dir(catalog, &template)?;
    let envd = envd(catalog, &work.0, settings).await?;
    let tree = work.0.join("tree");
    let mut unpacker = Unpacker::new(&tree, settings.owners);
    for (i, layer) in resolved.manifest.layers.iter().enumerate() {
        let pulled = registry.layer(layer, &work.0).await?;
        tracing::info!(
            layer = i + 1,
            bytes = pulled.bytes,
            "OCI layer pulled and digest-checked"
        );
        let (path, compression) = (pulled.path.clone(), pulled.compression);
        unpacker = tokio::task::spawn_blocking(move || -> Result<Unpacker, ImportBaseError> {
            let file = std::fs::File::open(&path).map_err(storage(&path))?;
            let reader = std::io::BufReader::new(file);
            match compression {
                registry::Compression::Gzip => {
                    unpacker.apply(i + 1, flate2::read::GzDecoder::new(reader))?
                }
                registry::Compression::None => unpacker.apply(i + 1, reader)?,
            }
            let _ = std::fs::remove_file(&path);
            Ok(unpacker)
        })
        .await
        .map_err(|e| ImportBaseError::Storage {
            path: "unpack task".into(),
            source: std::io::Error::other(e.to_string()),
        })??;
    }
    let report = unpacker.report().clone();
    tracing::info!(
        image = %image.whole(),
        digest = %resolved.digest,
        layers = resolved.manifest.layers.len(),
        entries = report.entries,
        whiteouts = report.whiteouts,
        devices_skipped = report.devices_skipped,
        "OCI image unpacked"
    );
    publish(
        catalog,
        &template,
        &tree,
        &envd,
        &image.whole(),
        &defaults,
        settings,
    )
    .await?;
    Ok(Imported {
        template,
        content_key: resolved.digest,
        cached: false,
        defaults,
    })
}

/// envd: the configured binary, else copied out of this host's `base`
/// image into `work`.
/// What the imported envd comes from, for the cache key: the `base`
/// image's version (its directory name, a content hash) or, with
/// `WRENN_IMPORT_ENVD` set, that file's SHA-256.
fn envd_source(
    catalog: &TemplateCatalog,
    settings: &ImportSettings,
) -> Result<String, ImportBaseError> {
    if let Some(path) = &settings.envd {
        let bytes = std::fs::read(path).map_err(storage(path))?;
        return Ok(super::template_manifest::hex(&Sha256::digest(&bytes)));
    }
    let base = catalog
        .version_dir(&name("base".into())?)
        .ok_or(RootfsError::NoEnvd)?;
    Ok(base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

async fn envd(
    catalog: &TemplateCatalog,
    work: &Path,
    settings: &ImportSettings,
) -> Result<Vec<u8>, ImportBaseError> {
    if let Some(path) = &settings.envd {
        return std::fs::read(path).map_err(storage(path));
    }
    let base = catalog
        .version_dir(&name("base".into())?)
        .ok_or(RootfsError::NoEnvd)?;
    let out = work.join("envd");
    rootfs::envd_from(&base.join("rootfs.ext4"), &out).await?;
    std::fs::read(&out).map_err(storage(&out))
}

async fn publish(
    catalog: &TemplateCatalog,
    template: &TemplateName,
    tree: &Path,
    envd: &[u8],
    label: &str,
    defaults: &ImageDefaults,
    settings: &ImportSettings,
) -> Result<(), ImportBaseError> {
    rootfs::finish(tree, envd, label, settings.owners)?;
    let staged = catalog.stage(template)?;
    rootfs::mkfs(tree, &staged.rootfs()).await?;
    let config = staged.version_dir().join(BASE_CONFIG_FILE);
    let json = serde_json::to_vec(defaults).unwrap_or_default();
    std::fs::write(&config, json).map_err(storage(&config))?;
    staged.publish()?;
    Ok(())
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod registry_tests;
