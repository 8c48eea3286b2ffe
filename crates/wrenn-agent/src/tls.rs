//! TLS on the agent's listener: `AGENT_TLS_CERT` and `AGENT_TLS_KEY` (PEM)
//! turn it into HTTPS, `AGENT_TLS_CLIENT_CA` (PEM) also requires a client
//! certificate signed by that CA (mTLS). This module owns the rustls server
//! configuration and the certificate fingerprint the control plane pins
//! (`hosts.tls_fingerprint`); [`serve_tls`] serves the router over it.
//!
//! rustls runs on the `ring` provider: aws-lc-rs would need cmake and a C
//! toolchain to build.
mod serve;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig,
};
use sha2::{Digest, Sha256};

pub use serve::serve_tls;

pub const CERT_VAR: &str = "AGENT_TLS_CERT";
pub const KEY_VAR: &str = "AGENT_TLS_KEY";
pub const CLIENT_CA_VAR: &str = "AGENT_TLS_CLIENT_CA";

/// The PEM files of the agent's TLS identity, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `AGENT_TLS_CERT`: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// `AGENT_TLS_KEY`: the leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `AGENT_TLS_CLIENT_CA`: when set, clients must present a certificate
    /// this CA signed.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("set both {CERT_VAR} and {KEY_VAR}, or neither")]
    HalfConfigured,
    #[error("{CLIENT_CA_VAR} needs {CERT_VAR} and {KEY_VAR}: client certificates are only asked for over TLS")]
    ClientCaWithoutTls,
    #[error("{var}: cannot read {path}")]
    ReadPem {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{var}: {path} holds no certificate")]
    NoCertificate { var: &'static str, path: PathBuf },
    #[error("{CLIENT_CA_VAR}: {path} is not a usable CA certificate")]
    ClientCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{CLIENT_CA_VAR}: cannot verify clients with {path}")]
    ClientVerifier {
        path: PathBuf,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("{CERT_VAR} and {KEY_VAR} do not make a usable server identity")]
    Identity(#[source] rustls::Error),
}

impl TlsFiles {
    /// Reads the three variables through `get`: `None` when TLS is off.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TlsError> {
        let client_ca = get(CLIENT_CA_VAR).map(PathBuf::from);
        match (get(CERT_VAR), get(KEY_VAR)) {
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: cert.into(),
                key: key.into(),
                client_ca,
            })),
            (None, None) if client_ca.is_some() => Err(TlsError::ClientCaWithoutTls),
            (None, None) => Ok(None),
            _ => Err(TlsError::HalfConfigured),
        }
    }

    /// Whether clients must present a certificate (mTLS).
    pub fn client_cert_required(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Loads and checks the files: the configuration to serve with (ALPN
    /// `h2` and `http/1.1`). Logs the fingerprint that the control plane pins.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = read_certs(CERT_VAR, &self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|source| TlsError::ReadPem {
            var: KEY_VAR,
            path: self.key.clone(),
            source,
        })?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Identity)?;
        let builder = match &self.client_ca {
            Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
            None => builder.with_no_client_auth(),
        };
        let fingerprint = sha256_hex(&chain[0]);
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(TlsError::Identity)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tracing::info!(
            tls_cert_sha256 = %fingerprint,
            client_cert_required = self.client_cert_required(),
            "serving over TLS"
        );
        Ok(Arc::new(config))
    }
}

/// SHA-256 of the DER of the first (leaf) certificate in a PEM file, as 64
/// lowercase hex digits: the value the control plane pins for this host.
///
/// # Example
///
/// ```no_run
/// let pin = wrenn_agent::tls::cert_sha256_hex("/etc/wrenn/agent.crt")?;
/// assert_eq!(pin.len(), 64);
/// # Ok::<(), wrenn_agent::tls::TlsError>(())
/// ```
pub fn cert_sha256_hex(cert_pem_path: impl AsRef<Path>) -> Result<String, TlsError> {
    let chain = read_certs(CERT_VAR, cert_pem_path.as_ref())?;
    Ok(sha256_hex(&chain[0]))
}

fn sha256_hex(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Every certificate in a PEM file; at least one.
fn read_certs(var: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_error = |source| TlsError::ReadPem {
        var,
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            var,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn client_verifier(
    ca_path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(CLIENT_CA_VAR, ca_path)? {
        roots.add(cert).map_err(|source| TlsError::ClientCa {
            path: ca_path.to_owned(),
            source,
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|source| TlsError::ClientVerifier {
            path: ca_path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn self_signed(dir: &Path) -> (TlsFiles, Vec<u8>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["agent.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert");
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write key");
        let files = TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: None,
        };
        (files, cert.der().to_vec())
    }

    #[test]
    fn from_lookup_when_nothing_set_then_tls_off() {
        assert_eq!(TlsFiles::from_lookup(lookup(&[])).expect("valid"), None);
    }

    #[test]
    fn from_lookup_when_only_cert_then_refuses_naming_both() {
        let err = TlsFiles::from_lookup(lookup(&[(CERT_VAR, "/c.pem")])).expect_err("half");
        assert!(matches!(err, TlsError::HalfConfigured));
        assert!(err.to_string().contains(KEY_VAR), "{err}");
    }

    #[test]
    fn from_lookup_when_only_key_then_refuses() {
        let err = TlsFiles::from_lookup(lookup(&[(KEY_VAR, "/k.pem")])).expect_err("half");
        assert!(matches!(err, TlsError::HalfConfigured));
    }

    #[test]
    fn from_lookup_when_client_ca_without_cert_then_refuses() {
        let err = TlsFiles::from_lookup(lookup(&[(CLIENT_CA_VAR, "/ca.pem")])).expect_err("ca");
        assert!(matches!(err, TlsError::ClientCaWithoutTls));
    }

    #[test]
    fn from_lookup_when_all_three_then_client_cert_required() {
        let files = TlsFiles::from_lookup(lookup(&[
            (CERT_VAR, "/c.pem"),
            (KEY_VAR, "/k.pem"),
            (CLIENT_CA_VAR, "/ca.pem"),
        ]))
        .expect("valid")
        .expect("on");
        assert!(files.client_cert_required());
        assert_eq!(files.cert, PathBuf::from("/c.pem"));
    }

    #[test]
    fn cert_sha256_hex_when_pem_then_sha256_of_leaf_der_in_lowercase_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (files, der) = self_signed(dir.path());
        let expected: String = Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let pin = cert_sha256_hex(&files.cert).expect("fingerprint");
        assert_eq!(pin, expected);
        assert_eq!(pin.len(), 64);
        assert_eq!(pin, pin.to_lowercase());
    }

    #[test]
    fn cert_sha256_hex_when_file_holds_no_certificate_then_error_names_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let err = cert_sha256_hex(&path).expect_err("no cert");
        assert!(err.to_string().contains("empty.pem"), "{err}");
    }

    #[test]
    fn server_config_when_valid_files_then_offers_h2_and_http1() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (files, _) = self_signed(dir.path());
        let config = files.server_config().expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn server_config_when_key_does_not_match_cert_then_refuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut files, _) = self_signed(dir.path());
        let other = rcgen::KeyPair::generate().expect("key");
        let other_path = dir.path().join("other-key.pem");
        std::fs::write(&other_path, other.serialize_pem()).expect("write");
        files.key = other_path;
        let err = files.server_config().expect_err("mismatched key");
        assert!(matches!(err, TlsError::Identity(_)), "{err}");
    }

    #[test]
    fn server_config_when_client_ca_is_not_pem_then_error_names_variable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut files, _) = self_signed(dir.path());
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "nothing here").expect("write");
        files.client_ca = Some(ca);
        let err = files.server_config().expect_err("bad CA");
        assert!(err.to_string().contains(CLIENT_CA_VAR), "{err}");
    }
}
