//! What a base import is asked for, parsed at the edge: a Debian suite
//! from a fixed list, or an OCI image reference (Docker Hub short names
//! such as `python:3.12` mean `docker.io/library/python:3.12`), and the
//! registry credentials, which never reach a log.
use oci_client::Reference;

/// Debian suites a `debian:<suite>` base may name.
pub const DEBIAN_SUITES: [&str; 3] = ["bookworm", "trixie", "bullseye"];

/// A Debian suite of [`DEBIAN_SUITES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianSuite(&'static str);

impl DebianSuite {
    pub fn parse(value: &str) -> Option<DebianSuite> {
        DEBIAN_SUITES
            .iter()
            .copied()
            .find(|s| *s == value)
            .map(DebianSuite)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// A registry image, normalised (`registry/repository` and a tag or a
/// digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef(Reference);

impl OciRef {
    /// Parses `[registry/]repository[:tag][@sha256:<hex>]`; `None` when it
    /// is not a valid reference.
    pub fn parse(value: &str) -> Option<OciRef> {
        if value.is_empty() || value.len() > 512 || value.chars().any(char::is_whitespace) {
            return None;
        }
        let reference: Reference = value.parse().ok()?;
        if let Some(digest) = reference.digest() {
            let hex = digest.strip_prefix("sha256:")?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
        }
        Some(OciRef(reference))
    }

    pub fn reference(&self) -> &Reference {
        &self.0
    }

    /// The registry as it is dialled (`docker.io` → its API host).
    pub fn registry(&self) -> &str {
        self.0.resolve_registry()
    }

    /// The whole normalised reference, e.g. `docker.io/library/python:3.12`.
    pub fn whole(&self) -> String {
        self.0.whole()
    }
}

/// Basic credentials for a registry (exchanged for a bearer token when the
/// registry asks for one). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    Debian(DebianSuite),
    Oci {
        image: OciRef,
        credentials: Option<RegistryCredentials>,
        /// Plain HTTP to this registry (asked for per build).
        insecure: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_short_docker_hub_name_then_library_repository() {
        let r = OciRef::parse("python:3.12").expect("valid");
        assert_eq!(r.whole(), "docker.io/library/python:3.12");
    }

    #[test]
    fn parse_when_local_registry_with_port_then_registry_kept() {
        let r = OciRef::parse("127.0.0.1:5000/test/img:1").expect("valid");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.reference().repository(), "test/img");
        assert_eq!(r.reference().tag(), Some("1"));
    }

    #[test]
    fn parse_when_digest_then_kept() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let r = OciRef::parse(&format!("ghcr.io/o/r@{digest}")).expect("valid");
        assert_eq!(r.reference().digest(), Some(digest.as_str()));
    }

    #[test]
    fn parse_when_short_digest_or_spaces_then_refused() {
        assert!(OciRef::parse("ghcr.io/o/r@sha256:abcd").is_none());
        assert!(OciRef::parse("a b").is_none());
        assert!(OciRef::parse("").is_none());
        assert!(OciRef::parse("team/App:1").is_none());
    }

    #[test]
    fn debian_suite_when_listed_then_accepted_else_refused() {
        assert_eq!(
            DebianSuite::parse("trixie").map(|s| s.as_str()),
            Some("trixie")
        );
        assert!(DebianSuite::parse("sid").is_none());
        assert!(DebianSuite::parse("bookworm;rm").is_none());
    }

    #[test]
    fn credentials_debug_when_printed_then_password_hidden() {
        let c = RegistryCredentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
