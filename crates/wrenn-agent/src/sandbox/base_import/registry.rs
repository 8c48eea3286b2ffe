//! Pulling an image from an OCI registry with `oci-client` (the
//! distribution protocol, basic → bearer token authentication): the
//! manifest (an image index resolves to its linux/amd64 entry), the
//! config, and every layer into a file, hashed on the way and refused when
//! the hash is not the descriptor's digest.
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use oci_client::{
    client::{ClientConfig, ClientProtocol},
    errors::{OciDistributionError, OciErrorCode},
    manifest::{ImageIndexEntry, OciDescriptor, OciImageManifest, OciManifest},
    secrets::RegistryAuth,
    Client,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::source::{OciRef, RegistryCredentials};

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// A layer on disk, verified.
#[derive(Debug)]
pub struct PulledLayer {
    pub path: PathBuf,
    pub compression: Compression,
    pub bytes: u64,
}

/// A resolved image: its manifest digest (the content key) and config.
#[derive(Debug)]
pub struct Resolved {
    pub digest: String,
    pub manifest: OciImageManifest,
    pub config: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("the registry refused the credentials for {0}")]
    Auth(String),
    #[error("{0} was not found in the registry")]
    NotFound(String),
    #[error("{0} has no linux/amd64 image")]
    NoPlatform(String),
    #[error("cannot reach the registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("layer {digest} has media type {media_type}, which is not supported (tar, tar+gzip)")]
    LayerType { digest: String, media_type: String },
    #[error("blob {expected} arrived with digest {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("the registry answered badly: {0}")]
    Protocol(String),
    #[error("cannot store a layer at {path}")]
    Storage {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A client for one pull.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    image: OciRef,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(image: &OciRef, credentials: Option<&RegistryCredentials>, insecure: bool) -> Self {
        let protocol = if insecure {
            ClientProtocol::HttpsExcept(vec![image.registry().to_owned()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            https_proxy: std::env::var("HTTPS_PROXY")
                .or_else(|_| std::env::var("https_proxy"))
                .ok(),
            no_proxy: std::env::var("NO_PROXY")
                .or_else(|_| std::env::var("no_proxy"))
                .ok(),
            ..ClientConfig::default()
        };
        let auth = match credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        Self {
            client: Client::new(config),
            auth,
            image: image.clone(),
        }
    }

    fn map(&self, err: OciDistributionError) -> PullError {
        classify(&self.image, err)
    }

    /// The image manifest for linux/amd64, its digest and the config.
    pub async fn resolve(&self) -> Result<Resolved, PullError> {
        let reference = self.image.reference();
        let (manifest, digest) = self
            .client
            .pull_manifest(reference, &self.auth)
            .await
            .map_err(|e| self.map(e))?;
        let (manifest, digest) = match manifest {
            OciManifest::Image(m) => (m, digest),
            OciManifest::ImageIndex(index) => {
                let chosen = select_linux_amd64(&index.manifests)
                    .ok_or_else(|| PullError::NoPlatform(self.image.whole()))?;
                let entry = reference.clone_with_digest(chosen.clone());
                match self
                    .client
                    .pull_manifest(&entry, &self.auth)
                    .await
                    .map_err(|e| self.map(e))?
                {
                    (OciManifest::Image(m), _) => (m, chosen),
                    (OciManifest::ImageIndex(_), _) => {
                        return Err(PullError::Protocol(
                            "an image index entry is another index".into(),
                        ))
                    }
                }
            }
        };
        let mut config = Vec::new();
        self.client
            .pull_blob(reference, &manifest.config, &mut config)
            .await
            .map_err(|e| self.map(e))?;
        Ok(Resolved {
            digest,
            manifest,
            config,
        })
    }

    /// Downloads one layer into `dir`, verifying its digest.
    pub async fn layer(&self, layer: &OciDescriptor, dir: &Path) -> Result<PulledLayer, PullError> {
        let compression = compression(&layer.media_type).ok_or_else(|| PullError::LayerType {
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
        })?;
        let hex = layer
            .digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| PullError::Protocol(format!("unsupported digest {}", layer.digest)))?;
        let path = dir.join(format!("layer-{hex}"));
        let storage = |source| PullError::Storage {
            path: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(&path).await.map_err(storage)?;
        let mut stream = self
            .client
            .pull_blob_stream(self.image.reference(), layer)
            .await
            .map_err(|e| self.map(e))?;
        let mut check = DigestCheck::new(&layer.digest);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.map(e.into()))?;
            check.update(&chunk);
            file.write_all(&chunk).await.map_err(storage)?;
        }
        file.flush().await.map_err(storage)?;
        let bytes = check.finish()?;
        Ok(PulledLayer {
            path,
            compression,
            bytes,
        })
    }
}

/// Hashes a blob as it arrives; `finish` refuses another digest.
#[derive(Debug)]
pub struct DigestCheck {
    expected: String,
    hasher: Sha256,
    bytes: u64,
}

impl DigestCheck {
    pub fn new(expected: &str) -> Self {
        Self {
            expected: expected.to_owned(),
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    /// The blob's size, when its digest is the expected one.
    pub fn finish(self) -> Result<u64, PullError> {
        let actual = format!(
            "sha256:{}",
            super::super::template_manifest::hex(&self.hasher.finalize())
        );
        if actual == self.expected {
            Ok(self.bytes)
        } else {
            Err(PullError::DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

/// The compression a layer media type names; `None`: not a layer we read.
pub fn compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        _ => None,
    }
}

/// The first linux/amd64 entry of an image index.
pub fn select_linux_amd64(entries: &[ImageIndexEntry]) -> Option<String> {
    entries
        .iter()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
        .map(|e| e.digest.clone())
}

fn classify(image: &OciRef, err: OciDistributionError) -> PullError {
    let whole = image.whole();
    match err {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => {
            PullError::Auth(image.registry().into())
        }
        OciDistributionError::ImageManifestNotFoundError(_) => PullError::NotFound(whole),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            }) {
                PullError::NotFound(whole)
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                PullError::Auth(image.registry().into())
            } else {
                PullError::Protocol(format!("{codes:?}"))
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => PullError::NotFound(whole),
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => PullError::Auth(image.registry().into()),
        OciDistributionError::RequestError(e) => PullError::Unreachable {
            registry: image.registry().into(),
            reason: without_url(&e),
        },
        OciDistributionError::DigestError(e) => PullError::Protocol(e.to_string()),
        other => PullError::Protocol(other.to_string()),
    }
}

/// A request error's text without its URL (which may carry a token).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(json: &str) -> Vec<ImageIndexEntry> {
        serde_json::from_str(json).expect("entries")
    }

    #[test]
    fn select_when_index_has_amd64_then_that_entry() {
        let entries = index(
            r#"[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:arm","size":1,"platform":{"os":"linux","architecture":"arm64"}},
                {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:amd","size":1,"platform":{"os":"linux","architecture":"amd64"}}]"#,
        );
        assert_eq!(select_linux_amd64(&entries).as_deref(), Some("sha256:amd"));
    }

    #[test]
    fn select_when_no_linux_amd64_then_none() {
        let entries = index(
            r#"[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:w","size":1,"platform":{"os":"windows","architecture":"amd64"}},
                {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:n","size":1}]"#,
        );
        assert_eq!(select_linux_amd64(&entries), None);
    }

    #[test]
    fn digest_check_when_bytes_differ_then_refused() {
        let good = format!(
            "sha256:{}",
            super::super::super::template_manifest::hex(&Sha256::digest(b"layer"))
        );
        let mut ok = DigestCheck::new(&good);
        ok.update(b"lay");
        ok.update(b"er");
        assert_eq!(ok.finish().expect("matches"), 5);
        let mut bad = DigestCheck::new(&good);
        bad.update(b"tampered");
        assert!(matches!(
            bad.finish(),
            Err(PullError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn compression_when_zstd_then_unsupported() {
        assert_eq!(
            compression("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            compression("application/vnd.oci.image.layer.v1.tar+zstd"),
            None
        );
    }
}
