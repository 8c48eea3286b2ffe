//! The pinned verifier through real (in-memory) rustls handshakes.
use std::sync::Arc;

use rustls::{
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::WebPkiClientVerifier,
    ClientConnection, RootCertStore, ServerConfig, ServerConnection,
};

use super::*;

struct Identity {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn self_signed(name: &str) -> Identity {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    Identity {
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server(identity: &Identity, client_ca: Option<&CertificateDer<'static>>) -> ServerConnection {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.clone()).expect("root");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
        .expect("server config");
    ServerConnection::new(Arc::new(config)).expect("server")
}

/// Runs a handshake between the two ends in memory; the first error wins.
fn handshake(client_config: Arc<ClientConfig>, mut server: ServerConnection) -> Result<(), String> {
    let name = ServerName::try_from("10.0.0.7").expect("name");
    let mut client = ClientConnection::new(client_config, name).map_err(|e| e.to_string())?;
    for _ in 0..20 {
        let mut to_server = Vec::new();
        while client.wants_write() {
            client
                .write_tls(&mut to_server)
                .map_err(|e| e.to_string())?;
        }
        server
            .read_tls(&mut to_server.as_slice())
            .map_err(|e| e.to_string())?;
        let server_result = server.process_new_packets();
        let mut to_client = Vec::new();
        while server.wants_write() {
            server
                .write_tls(&mut to_client)
                .map_err(|e| e.to_string())?;
        }
        client
            .read_tls(&mut to_client.as_slice())
            .map_err(|e| e.to_string())?;
        client.process_new_packets().map_err(|e| e.to_string())?;
        server_result.map_err(|e| format!("server: {e}"))?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn pinned_client_config_when_agent_presents_pinned_cert_then_handshake_succeeds() {
    let agent = self_signed("agent.example");
    let pin = Fingerprint::of(&agent.cert).to_string();
    let config = pinned_client_config(&pin, None).expect("config");
    handshake(config, server(&agent, None)).expect("handshake");
}

#[test]
fn pinned_client_config_when_pin_is_uppercase_with_colons_then_same_pin() {
    let agent = self_signed("agent.example");
    let hex = Fingerprint::of(&agent.cert).to_string().to_uppercase();
    let pairs: Vec<&str> = (0..32).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    let config = pinned_client_config(&pairs.join(":"), None).expect("config");
    handshake(config, server(&agent, None)).expect("handshake");
}

#[test]
fn pinned_client_config_when_agent_presents_another_cert_then_fingerprint_mismatch() {
    let pinned = self_signed("agent.example");
    let impostor = self_signed("agent.example");
    let pin = Fingerprint::of(&pinned.cert).to_string();
    let config = pinned_client_config(&pin, None).expect("config");
    let err = handshake(config, server(&impostor, None)).expect_err("refused");
    assert!(err.contains("fingerprint mismatch"), "{err}");
    assert!(err.contains(&pin), "{err}");
}

#[test]
fn pinned_client_config_when_pin_is_malformed_then_refuses() {
    for pin in ["", "abc", &"zz".repeat(32), &"ab".repeat(33)] {
        let err = pinned_client_config(pin, None).expect_err(pin);
        assert!(matches!(err, TlsError::BadFingerprint(_)), "{pin}: {err}");
    }
}

#[test]
fn pinned_client_config_when_agent_requires_client_cert_and_none_then_refused() {
    let agent = self_signed("agent.example");
    let ca = self_signed("cp-ca");
    let pin = Fingerprint::of(&agent.cert).to_string();
    let config = pinned_client_config(&pin, None).expect("config");
    let err = handshake(config, server(&agent, Some(&ca.cert))).expect_err("refused");
    assert!(err.contains("CertificateRequired"), "{err}");
}

#[test]
fn pinned_client_config_when_identity_given_then_agent_requiring_it_accepts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = self_signed("agent.example");
    // A self-signed client certificate is its own CA.
    let cp = self_signed("wrenn-cp");
    std::fs::write(dir.path().join("cp.crt"), &cp.cert_pem).expect("write");
    std::fs::write(dir.path().join("cp.key"), &cp.key_pem).expect("write");
    let identity =
        ClientIdentity::from_pem_files(&dir.path().join("cp.crt"), &dir.path().join("cp.key"))
            .expect("identity");
    assert_eq!(identity.fingerprint(), Fingerprint::of(&cp.cert));
    let pin = Fingerprint::of(&agent.cert).to_string();
    let config = pinned_client_config(&pin, Some(identity)).expect("config");
    handshake(config, server(&agent, Some(&cp.cert))).expect("handshake");
}

#[test]
fn client_identity_when_debug_printed_then_key_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = self_signed("wrenn-cp");
    std::fs::write(dir.path().join("cp.crt"), &cp.cert_pem).expect("write");
    std::fs::write(dir.path().join("cp.key"), &cp.key_pem).expect("write");
    let identity =
        ClientIdentity::from_pem_files(&dir.path().join("cp.crt"), &dir.path().join("cp.key"))
            .expect("identity");
    let printed = format!("{identity:?}");
    assert!(printed.contains("<redacted>"), "{printed}");
    assert!(!printed.contains("PRIVATE KEY"), "{printed}");
}

#[test]
fn client_identity_when_key_file_missing_then_error_names_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = self_signed("wrenn-cp");
    std::fs::write(dir.path().join("cp.crt"), &cp.cert_pem).expect("write");
    let err =
        ClientIdentity::from_pem_files(&dir.path().join("cp.crt"), &dir.path().join("nope.key"))
            .expect_err("missing key");
    assert!(err.to_string().contains(CLIENT_KEY_VAR), "{err}");
}

#[test]
fn fingerprint_when_displayed_then_round_trips() {
    let agent = self_signed("agent.example");
    let fingerprint = Fingerprint::of(&agent.cert);
    let parsed: Fingerprint = fingerprint.to_string().parse().expect("parse");
    assert_eq!(parsed, fingerprint);
    assert!(parsed.matches(&agent.cert));
}
