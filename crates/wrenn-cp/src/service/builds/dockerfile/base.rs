//! What a `FROM` names: a Wrenn template (`base`, a team template,
//! `name:tag`), `debian:<suite>` (a suite of [`DEBIAN_SUITES`], built with
//! debootstrap on the build's host), or an OCI image (anything with a
//! registry path or a digest: `127.0.0.1:5000/team/app:1`,
//! `docker.io/library/python:3.12`, `ghcr.io/o/r@sha256:...`). A bare
//! `name[:tag]` is always a Wrenn template, so Docker Hub images are written
//! with their path (`library/python:3.12` or `docker.io/library/...`).
//! `scratch` is refused with `unsupported_base`.
/// Tags and `name:tag` are shared with sandbox creates (`wrenn_types`).
pub use wrenn_types::{TemplateRef, TemplateTag as Tag};

use super::DockerfileError;

/// Debian suites `FROM debian:<suite>` may name.
pub const DEBIAN_SUITES: [&str; 3] = ["bookworm", "trixie", "bullseye"];

/// The base of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    Template(TemplateRef),
    /// One of [`DEBIAN_SUITES`].
    Debian {
        suite: String,
    },
    /// An image reference as written (the host normalises it).
    Oci {
        reference: String,
    },
}

impl std::fmt::Display for BaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseRef::Template(t) => write!(f, "{t}"),
            BaseRef::Debian { suite } => write!(f, "debian:{suite}"),
            BaseRef::Oci { reference } => f.write_str(reference),
        }
    }
}

/// `[registry/]repository[:tag][@sha256:<64 hex>]` with the characters
/// the distribution spec allows (the host parses it fully).
fn plausible_oci(reference: &str) -> bool {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let digest_ok = digest.is_none_or(|d| {
        d.strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':');
    digest_ok
        && !name.is_empty()
        && reference.len() <= 512
        && name.bytes().all(allowed)
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
}

impl BaseRef {
    /// Classifies a `FROM` reference (variables already expanded).
    pub fn classify(line: u32, reference: &str) -> Result<BaseRef, DockerfileError> {
        let refuse = |reason| DockerfileError::UnsupportedBase {
            line,
            reference: reference.to_owned(),
            reason,
        };
        let name = reference.split(':').next().unwrap_or_default();
        if reference == "scratch" {
            return Err(refuse("an empty base is not supported; use FROM base"));
        }
        if name == "debian" && !reference.contains('@') {
            let suite = reference.split_once(':').map(|(_, s)| s).unwrap_or("");
            if DEBIAN_SUITES.contains(&suite) {
                return Ok(BaseRef::Debian {
                    suite: suite.to_owned(),
                });
            }
            return Err(DockerfileError::UnsupportedBase {
                line,
                reference: reference.to_owned(),
                reason: "name a Debian suite: debian:bookworm, debian:trixie or debian:bullseye",
            });
        }
        if reference.contains('/') || reference.contains('@') {
            if plausible_oci(reference) {
                return Ok(BaseRef::Oci {
                    reference: reference.to_owned(),
                });
            }
            return Err(DockerfileError::Invalid {
                line,
                instruction: "FROM".into(),
                message: format!("'{reference}' is not an image reference"),
            });
        }
        TemplateRef::parse(reference)
            .map(BaseRef::Template)
            .ok_or_else(|| DockerfileError::Invalid {
                line,
                instruction: "FROM".into(),
                message: format!(
                    "'{reference}' is not a template name[:tag] (1-63 of a-z, 0-9, '-', '_', '.')"
                ),
            })
    }
}
