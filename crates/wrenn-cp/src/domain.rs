//! `WRENN_DOMAIN`: the name under which sandboxes and the E2B-compatible API
//! are reached (`<port>-<sandboxID>.<domain>`, `api.<domain>`). It may carry
//! a port (`wrenn.localhost:8443`): the e2b SDKs keep it through their URL
//! formatting, which is how one machine serves names without port 443.
//! A leaf: imports nothing of the crate.
use std::fmt;

/// A validated domain: lowercase DNS labels, at least two of them (a
/// wildcard certificate for `*.<domain>` needs two labels after the star:
/// OpenSSL refuses `*.localhost`), and an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    host: String,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("'{0}' is not a domain name: use lowercase labels of letters, digits and '-', at least two (e.g. wrenn.localhost or sandboxes.example.com), optionally ':PORT'")]
    Malformed(String),
}

impl Domain {
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let malformed = || DomainError::Malformed(text.to_owned());
        let text = text.trim().trim_end_matches('.');
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => {
                let port: u16 = port.parse().map_err(|_| malformed())?;
                if port == 0 {
                    return Err(malformed());
                }
                (host, Some(port))
            }
            None => (text, None),
        };
        let host = host.to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if labels.len() < 2 || host.len() > 253 || !labels.iter().all(label_ok) {
            return Err(malformed());
        }
        Ok(Self { host, port })
    }

    /// The name without its port.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// `host[:port]`, as clients put it after `<port>-<id>.` or `api.`.
impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_name_and_port_then_keeps_both() {
        let domain = Domain::parse("Wrenn.Localhost:8443").unwrap();
        assert_eq!(domain.host(), "wrenn.localhost");
        assert_eq!(domain.port(), Some(8443));
        assert_eq!(domain.to_string(), "wrenn.localhost:8443");
    }

    #[test]
    fn parse_when_trailing_dot_then_dropped() {
        assert_eq!(
            Domain::parse("example.com.").unwrap().to_string(),
            "example.com"
        );
    }

    #[test]
    fn parse_when_malformed_then_refused() {
        for bad in [
            "",
            "localhost",
            "a..b",
            "-a.b",
            "a_b.c",
            "a.b:0",
            "a.b:x",
            "a.b:70000",
            "*.a.b",
            "a b.c",
            "http://a.b",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
