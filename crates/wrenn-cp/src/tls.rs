//! TLS to host agents: a rustls client configuration that trusts exactly one
//! certificate, the one whose SHA-256 the host registered
//! (`hosts.tls_fingerprint`), whatever its name, issuer or dates, and that
//! presents this control plane's certificate (`CP_CLIENT_CERT`,
//! `CP_CLIENT_KEY`) to agents that require one.
//!
//! The pin replaces chain validation, not the handshake: the agent still
//! proves it holds the pinned certificate's key by signing the handshake.
//! rustls runs on the `ring` provider (aws-lc-rs needs cmake to build).
use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("'{0}' is not a SHA-256 fingerprint: expected 64 hex digits (colons allowed)")]
    BadFingerprint(String),
    #[error("{var}: cannot read {path}")]
    ReadPem {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{var}: {path} holds no certificate")]
    NoCertificate { var: &'static str, path: PathBuf },
    #[error("set both {CLIENT_CERT_VAR} and {CLIENT_KEY_VAR}, or neither")]
    HalfConfigured,
    #[error("the client certificate and key do not make a usable TLS identity")]
    Identity(#[source] rustls::Error),
}

/// The SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(cert_der: &[u8]) -> Self {
        Self(Sha256::digest(cert_der).into())
    }

    /// Constant-time: the comparison does not leak how many bytes matched.
    pub fn matches(&self, cert_der: &[u8]) -> bool {
        bool::from(self.0.ct_eq(&Self::of(cert_der).0))
    }
}

/// 64 hex digits, either case; `AB:CD:…` as `openssl x509 -fingerprint`
/// prints it is accepted too.
impl FromStr for Fingerprint {
    type Err = TlsError;
    fn from_str(raw: &str) -> Result<Self, TlsError> {
        let bad = || TlsError::BadFingerprint(raw.to_owned());
        let digits: Vec<u8> = raw.trim().bytes().filter(|b| *b != b':').collect();
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

/// Lowercase hex, no separators: the form the agent reports.
impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The certificate chain and key this control plane presents to agents
/// that require client certificates. `Debug` never shows the key.
#[derive(Clone)]
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let leaf = self.chain.first().map(|c| Fingerprint::of(c).to_string());
        f.debug_struct("ClientIdentity")
            .field("cert_sha256", &leaf)
            .field("key", &"<redacted>")
            .finish()
    }
}

pub const CLIENT_CERT_VAR: &str = "CP_CLIENT_CERT";
pub const CLIENT_KEY_VAR: &str = "CP_CLIENT_KEY";

impl ClientIdentity {
    /// Reads `CP_CLIENT_CERT` and `CP_CLIENT_KEY` through `get`: `None`
    /// when neither is set.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, TlsError> {
        match (get(CLIENT_CERT_VAR), get(CLIENT_KEY_VAR)) {
            (Some(cert), Some(key)) => {
                Self::from_pem_files(Path::new(&cert), Path::new(&key)).map(Some)
            }
            (None, None) => Ok(None),
            _ => Err(TlsError::HalfConfigured),
        }
    }

    /// Reads `CP_CLIENT_CERT` (chain, leaf first) and `CP_CLIENT_KEY` (PEM).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        fn read_error(
            var: &'static str,
            path: &Path,
        ) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
            let path = path.to_owned();
            move |source| TlsError::ReadPem { var, path, source }
        }
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(read_error(CLIENT_CERT_VAR, cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_error(CLIENT_CERT_VAR, cert))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                var: CLIENT_CERT_VAR,
                path: cert.to_owned(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(read_error(CLIENT_KEY_VAR, key))?;
        Ok(Self {
            chain,
            key: Arc::new(key),
        })
    }

    /// The SHA-256 of the leaf certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.chain[0])
    }
}

/// A client configuration for one agent: trusts exactly the certificate
/// whose SHA-256 is `fingerprint_hex` and presents `client_identity` when
/// the agent asks for a client certificate. ALPN is left empty: each HTTP
/// client sets the protocols it speaks.
///
/// # Example
///
/// ```
/// let pin = "5f".repeat(32);
/// let config = wrenn_cp::tls::pinned_client_config(&pin, None)?;
/// assert!(config.alpn_protocols.is_empty());
/// # Ok::<(), wrenn_cp::tls::TlsError>(())
/// ```
pub fn pinned_client_config(
    fingerprint_hex: &str,
    client_identity: Option<ClientIdentity>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let pin: Fingerprint = fingerprint_hex.parse()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Identity)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCert { pin, provider }));
    let config = match client_identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key.clone_key())
            .map_err(TlsError::Identity)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Why a handshake was refused: the agent's certificate is not the pinned one.
#[derive(thiserror::Error)]
#[error(
    "certificate fingerprint mismatch: pinned sha256 {pinned}, the agent presented {presented}"
)]
pub struct FingerprintMismatch {
    pub pinned: Fingerprint,
    pub presented: Fingerprint,
}

/// The message itself: rustls prints `CertificateError::Other` with `Debug`.
impl std::fmt::Debug for FingerprintMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Accepts exactly the end-entity certificate with the pinned SHA-256.
#[derive(Debug)]
struct PinnedCert {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pin.matches(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        let mismatch = FingerprintMismatch {
            pinned: self.pin,
            presented: Fingerprint::of(end_entity),
        };
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(mismatch)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;
