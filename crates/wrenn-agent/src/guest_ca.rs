//! The operator's extra CA certificates for guests (`AGENT_GUEST_CA_FILE`):
//! a PEM bundle read and checked once at start-up, then handed to envd in
//! every `/init`, which adds it to the guest's trust store. Hosts behind a
//! TLS-inspecting proxy need it for `pip install` and the like to work.
use std::{path::PathBuf, sync::Arc};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// A checked PEM bundle: one or more X.509 CA certificates, no keys.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestCa {
    pem: Arc<str>,
    count: usize,
}

impl std::fmt::Debug for GuestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestCa")
            .field("certificates", &self.count)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GuestCaError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty { path: PathBuf },
    #[error("{path}: certificate {index} is not valid PEM: {message}")]
    BadPem {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path}: certificate {index} is not an X.509 certificate usable as a CA: {message}")]
    BadCertificate {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path} holds a private key; give only certificates, which every guest can read")]
    PrivateKey { path: PathBuf },
}

impl GuestCa {
    /// Reads and checks the bundle at `path`.
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Self, GuestCaError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|source| GuestCaError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|fault| fault.at(path))
    }

    /// Checks PEM `text`; the error still lacks the file's path.
    fn parse(text: &str) -> Result<Self, Fault> {
        if PrivateKeyDer::from_pem_slice(text.as_bytes()).is_ok() {
            return Err(Fault::PrivateKey);
        }
        let mut roots = rustls::RootCertStore::empty();
        let mut count = 0;
        for (index, cert) in CertificateDer::pem_slice_iter(text.as_bytes()).enumerate() {
            let index = index + 1;
            let cert = cert.map_err(|e| Fault::Pem(index, e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| Fault::Certificate(index, e.to_string()))?;
            count += 1;
        }
        if count == 0 {
            return Err(Fault::Empty);
        }
        Ok(Self {
            pem: text.into(),
            count,
        })
    }

    /// The bundle as given, for envd's `/init`.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    pub fn certificates(&self) -> usize {
        self.count
    }
}

enum Fault {
    Empty,
    PrivateKey,
    Pem(usize, String),
    Certificate(usize, String),
}

impl Fault {
    fn at(self, path: PathBuf) -> GuestCaError {
        match self {
            Fault::Empty => GuestCaError::Empty { path },
            Fault::PrivateKey => GuestCaError::PrivateKey { path },
            Fault::Pem(index, message) => GuestCaError::BadPem {
                path,
                index,
                message,
            },
            Fault::Certificate(index, message) => GuestCaError::BadCertificate {
                path,
                index,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").pem()
    }

    fn write(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("wrenn-guest-ca-{name}-{}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn from_file_when_two_ca_certificates_then_both_counted_and_text_kept() {
        let text = format!("{}{}", ca_pem(), ca_pem());
        let ca = GuestCa::from_file(write("two", &text)).expect("valid");
        assert_eq!(ca.certificates(), 2);
        assert_eq!(ca.pem(), text);
    }

    #[test]
    fn from_file_when_no_certificate_then_empty_error_naming_the_file() {
        let path = write("empty", "just text\n");
        let err = GuestCa::from_file(&path).expect_err("refused");
        assert!(matches!(err, GuestCaError::Empty { .. }));
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn from_file_when_body_is_not_a_certificate_then_bad_certificate() {
        let junk = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        let err = GuestCa::from_file(write("junk", junk)).expect_err("refused");
        assert!(
            matches!(err, GuestCaError::BadCertificate { index: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn from_file_when_a_private_key_is_included_then_refused() {
        let key = rcgen::KeyPair::generate().expect("key");
        let text = format!("{}{}", ca_pem(), key.serialize_pem());
        let err = GuestCa::from_file(write("key", &text)).expect_err("refused");
        assert!(matches!(err, GuestCaError::PrivateKey { .. }), "{err}");
    }

    #[test]
    fn from_file_when_missing_then_read_error() {
        let err = GuestCa::from_file("/nonexistent/wrenn-ca.pem").expect_err("refused");
        assert!(matches!(err, GuestCaError::Read { .. }));
    }
}
