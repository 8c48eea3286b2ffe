//! Copying a template image from another agent that holds it
//! (docs/architecture.md, "Templates on every host"): its manifest first,
//! which must have the digest the control plane named, then every file it
//! lists, streamed into a staging directory and hashed on the way. Only a
//! copy whose every file matches is published (one rename); any failure
//! drops the staging directory, so a bad copy leaves nothing.
use std::{path::Path, time::Instant};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{
    catalog::{PublishError, TemplateCatalog},
    template_manifest::{self, hex, Manifest, ManifestError},
    TemplateName,
};

/// The header that carries the control plane's grant to the source agent.
pub const GRANT_HEADER: &str = "x-template-grant";

/// Where to fetch from and the permission to do so.
#[derive(Clone)]
pub struct FetchSource {
    /// `http://ip:port` of the source agent.
    pub base_url: String,
    /// `<expires_ms>.<mac>`; never logged.
    pub grant: String,
}

impl std::fmt::Debug for FetchSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchSource")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// What a fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub manifest: Manifest,
    /// Bytes received; 0 when the template was already here.
    pub bytes: u64,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchTemplateError {
    #[error("source_url must be http://host:port, got '{0}'")]
    BadSource(String),
    #[error("the source agent answered {status} for {what}")]
    SourceStatus {
        what: String,
        status: reqwest::StatusCode,
    },
    #[error("cannot reach the source agent for {what}")]
    Source {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the source's manifest is malformed")]
    BadManifest(#[from] ManifestError),
    #[error("the source's manifest has digest {got}, not the expected {want}")]
    DigestMismatch { want: String, got: String },
    #[error(
        "file '{name}' from the source does not match its manifest (size {size}, sha256 {sha256})"
    )]
    FileMismatch {
        name: String,
        size: u64,
        sha256: String,
    },
    #[error("template '{name}' is already here with another digest ({digest})")]
    ExistsOtherwise { name: TemplateName, digest: String },
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("storage error on {path}")]
    Storage {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl FetchTemplateError {
    fn storage(path: &Path, source: std::io::Error) -> Self {
        Self::Storage {
            path: path.display().to_string(),
            source,
        }
    }

    /// Stable code, as `SandboxError::code` spells them.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadSource(_) => "invalid_argument",
            Self::BadManifest(_) | Self::DigestMismatch { .. } | Self::FileMismatch { .. } => {
                "failed_precondition"
            }
            Self::ExistsOtherwise { .. } | Self::Publish(PublishError::Exists(_)) => {
                "already_exists"
            }
            Self::SourceStatus { .. } | Self::Source { .. } => "unavailable",
            Self::Publish(_) | Self::Storage { .. } => "internal",
        }
    }
}

/// The manifest of the template's current version here, if it has one
/// (computed and kept on first use; blocking).
pub fn local_manifest(
    catalog: &TemplateCatalog,
    name: &TemplateName,
) -> Option<std::io::Result<Manifest>> {
    let dir = catalog.version_dir(name)?;
    Some(template_manifest::load_or_compute(&dir))
}

/// Fetches template `name` with manifest digest `digest` from `source`
/// into `catalog`.
pub async fn fetch(
    http: &reqwest::Client,
    catalog: &TemplateCatalog,
    name: &TemplateName,
    digest: &str,
    source: &FetchSource,
) -> Result<Fetched, FetchTemplateError> {
    let started = Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if catalog.exists(name) {
        let (catalog, task_name) = (catalog.clone(), name.clone());
        let here = tokio::task::spawn_blocking(move || local_manifest(&catalog, &task_name))
            .await
            .ok()
            .flatten()
            .and_then(Result::ok);
        return match here {
            Some(manifest) if manifest.digest() == digest => Ok(Fetched {
                manifest,
                bytes: 0,
                duration_ms: elapsed(),
            }),
            other => Err(FetchTemplateError::ExistsOtherwise {
                name: name.clone(),
                digest: other.map_or_else(|| "unknown".into(), |m| m.digest()),
            }),
        };
    }
    let base = source.base_url.trim_end_matches('/');
    let authority = base.strip_prefix("http://").unwrap_or_default();
    if authority.is_empty() || authority.contains('/') {
        return Err(FetchTemplateError::BadSource(source.base_url.clone()));
    }
    let url = |tail: &str| format!("{base}/templates/{name}/{tail}");
    let manifest_text = get(http, &url("manifest"), source, "the manifest")
        .await?
        .text()
        .await
        .map_err(|e| FetchTemplateError::Source {
            what: "the manifest".into(),
            source: e,
        })?;
    let manifest = Manifest::parse(&manifest_text)?;
    if manifest.digest() != digest {
        return Err(FetchTemplateError::DigestMismatch {
            want: digest.to_owned(),
            got: manifest.digest(),
        });
    }
    let staged = catalog.stage(name)?;
    let dir = staged.version_dir();
    let mut bytes = 0;
    for entry in manifest.files() {
        let what = format!("file '{}'", entry.name);
        let response = get(http, &url(&format!("files/{}", entry.name)), source, &what).await?;
        let (size, sha256) = receive(response, &dir.join(&entry.name), &what).await?;
        bytes += size;
        if size != entry.size || sha256 != entry.sha256 {
            return Err(FetchTemplateError::FileMismatch {
                name: entry.name.clone(),
                size,
                sha256,
            });
        }
    }
    if let Some(path) = template_manifest::cache_path(&dir) {
        template_manifest::store(&path, &manifest)
            .map_err(|e| FetchTemplateError::storage(&path, e))?;
    }
    match staged.publish() {
        Ok(()) => {}
        // Another fetch of the same template won the race: fine if it is
        // the same content.
        Err(PublishError::Exists(_)) => {
            let (catalog, task_name) = (catalog.clone(), name.clone());
            let here = tokio::task::spawn_blocking(move || local_manifest(&catalog, &task_name))
                .await
                .ok()
                .flatten()
                .and_then(Result::ok);
            if here.as_ref().map(Manifest::digest).as_deref() != Some(digest) {
                return Err(FetchTemplateError::ExistsOtherwise {
                    name: name.clone(),
                    digest: here.map_or_else(|| "unknown".into(), |m| m.digest()),
                });
            }
        }
        Err(err) => return Err(err.into()),
    }
    tracing::info!(template = %name, bytes, duration_ms = elapsed(), source = base,
        "template fetched and verified");
    Ok(Fetched {
        manifest,
        bytes,
        duration_ms: elapsed(),
    })
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    source: &FetchSource,
    what: &str,
) -> Result<reqwest::Response, FetchTemplateError> {
    let response = http
        .get(url)
        .header(GRANT_HEADER, &source.grant)
        .send()
        .await
        .map_err(|e| FetchTemplateError::Source {
            what: what.to_owned(),
            source: e,
        })?;
    if !response.status().is_success() {
        return Err(FetchTemplateError::SourceStatus {
            what: what.to_owned(),
            status: response.status(),
        });
    }
    Ok(response)
}

/// Streams a response body into `path`, hashing it; answers size and hash.
async fn receive(
    response: reqwest::Response,
    path: &Path,
    what: &str,
) -> Result<(u64, String), FetchTemplateError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| FetchTemplateError::storage(path, e))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| FetchTemplateError::Source {
            what: what.to_owned(),
            source: e,
        })?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        // Root disks are mostly holes: zeros are skipped, not written, so
        // the copy stays as sparse as the original.
        let written = if chunk.iter().all(|&b| b == 0) {
            file.seek(std::io::SeekFrom::Current(chunk.len() as i64))
                .await
                .map(drop)
        } else {
            file.write_all(&chunk).await
        };
        written.map_err(|e| FetchTemplateError::storage(path, e))?;
    }
    file.set_len(size)
        .await
        .map_err(|e| FetchTemplateError::storage(path, e))?;
    file.sync_all()
        .await
        .map_err(|e| FetchTemplateError::storage(path, e))?;
    Ok((size, hex(&hasher.finalize())))
}
