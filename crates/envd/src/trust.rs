//! The operator's extra CA certificates (`caCertificates` in `/init`):
//! added to the guest's trust store once, however often `/init` repeats
//! them (every resume does), and named in the environment variables Node
//! and Python's `requests` read, so those trust them too.
use std::{collections::HashMap, io, path::Path};

/// Debian's bundle, which OpenSSL, curl, pip and apt read.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The certificates on their own (kept across `update-ca-certificates`).
pub const OPERATOR_ANCHOR: &str = "/usr/local/share/ca-certificates/wrenn-operator.crt";

const BEGIN: &str = "# wrenn-operator-ca begin\n";
const END: &str = "# wrenn-operator-ca end\n";

/// Writes `pem` to `anchor` and puts it in `bundle` between markers,
/// replacing an earlier operator block; unchanged files are not rewritten.
pub fn install(pem: &str, bundle: &Path, anchor: &Path) -> io::Result<()> {
    let mut pem = pem.trim_end().to_owned();
    pem.push('\n');
    if std::fs::read_to_string(anchor).ok().as_deref() != Some(pem.as_str()) {
        if let Some(dir) = anchor.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(anchor, &pem)?;
    }
    let current = match std::fs::read_to_string(bundle) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err),
    };
    let block = format!("{BEGIN}{pem}{END}");
    if current.contains(&block) {
        return Ok(());
    }
    let mut kept = without_block(&current);
    if !kept.is_empty() && !kept.ends_with('\n') {
        kept.push('\n');
    }
    kept.push_str(&block);
    if let Some(dir) = bundle.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Renamed into place: a reader never sees half a bundle.
    let staged = bundle.with_extension("crt.wrenn-new");
    std::fs::write(&staged, kept)?;
    std::fs::rename(&staged, bundle)
}

fn without_block(text: &str) -> String {
    match (text.find(BEGIN), text.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &text[..start], &text[end + END.len()..])
        }
        _ => text.to_owned(),
    }
}

/// Defaults for the variables that point TLS clients at the bundle; a
/// value the host or the command already set wins.
pub fn default_env(env: &mut HashMap<String, String>) {
    for (key, value) in [
        ("NODE_EXTRA_CA_CERTS", OPERATOR_ANCHOR),
        ("SSL_CERT_FILE", SYSTEM_BUNDLE),
        ("REQUESTS_CA_BUNDLE", SYSTEM_BUNDLE),
    ] {
        env.entry(key.to_owned())
            .or_insert_with(|| value.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("envd-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn install_when_repeated_then_bundle_holds_one_copy_after_the_system_cas() {
        let dir = scratch("repeat");
        let (bundle, anchor) = (dir.join("certs/ca.crt"), dir.join("local/op.crt"));
        std::fs::create_dir_all(dir.join("certs")).expect("dir");
        std::fs::write(&bundle, "SYSTEM CAS").expect("bundle");
        install(PEM, &bundle, &anchor).expect("first");
        install(PEM, &bundle, &anchor).expect("second");
        let text = std::fs::read_to_string(&bundle).expect("bundle");
        assert!(text.starts_with("SYSTEM CAS\n"), "{text}");
        assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 1, "{text}");
        assert_eq!(std::fs::read_to_string(&anchor).expect("anchor"), PEM);
    }

    #[test]
    fn install_when_certificates_change_then_old_block_replaced() {
        let dir = scratch("change");
        let (bundle, anchor) = (dir.join("ca.crt"), dir.join("op.crt"));
        install(PEM, &bundle, &anchor).expect("first");
        let newer = PEM.replace("AAAA", "BBBB");
        install(&newer, &bundle, &anchor).expect("second");
        let text = std::fs::read_to_string(&bundle).expect("bundle");
        assert!(text.contains("BBBB") && !text.contains("AAAA"), "{text}");
    }

    #[test]
    fn default_env_when_already_set_then_kept() {
        let mut env = HashMap::from([("SSL_CERT_FILE".to_owned(), "/mine.pem".to_owned())]);
        default_env(&mut env);
        assert_eq!(env["SSL_CERT_FILE"], "/mine.pem");
        assert_eq!(env["REQUESTS_CA_BUNDLE"], SYSTEM_BUNDLE);
        assert_eq!(env["NODE_EXTRA_CA_CERTS"], OPERATOR_ANCHOR);
    }
}
