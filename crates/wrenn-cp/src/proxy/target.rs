//! Which requests are sandbox traffic, and for which sandbox and port:
//!
//! - Host `<port>-<sandboxID>.<domain>` (the port of the Host is ignored);
//! - Host `localhost`, an IP literal or `sandbox.<domain>` with the header
//!   `E2b-Sandbox-Id` (and `E2b-Sandbox-Port`, default envd's 49983): what
//!   the e2b SDKs send with `E2B_SANDBOX_URL`.
//!
//! `api.<domain>` is the E2B-compatible API; any other request is the REST
//! API's. Pure functions of the Host and headers.
use axum::http::{header, HeaderMap, Uri};
use wrenn_types::envd_paths::ENVD_PORT;

use crate::domain::Domain;

pub const SANDBOX_ID_HEADER: &str = "e2b-sandbox-id";
pub const SANDBOX_PORT_HEADER: &str = "e2b-sandbox-port";

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Sandbox traffic. The id and port are as sent, validated by the proxy
    /// (a malformed one answers the proxy's 502, not the API's 404).
    Sandbox { id: String, port: String },
    /// `api.<domain>`: the E2B-compatible API at its root.
    E2bApi,
    /// Wrenn's own REST API.
    Api,
}

/// The request's host name: `Host`, else the URI's authority (HTTP/2),
/// without port, lowercase, without a trailing dot.
pub fn host_name(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))?;
    let host = match raw.strip_prefix('[') {
        // `[v6]:port`
        Some(rest) => rest.split(']').next().unwrap_or_default().to_owned(),
        None => raw
            .rsplit_once(':')
            .map_or(raw.as_str(), |(h, _)| h)
            .to_owned(),
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

pub fn classify(headers: &HeaderMap, uri: &Uri, domain: Option<&Domain>) -> Destination {
    let Some(host) = host_name(headers, uri) else {
        return Destination::Api;
    };
    let label = domain.and_then(|d| {
        host.strip_suffix(d.host())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|label| !label.is_empty())
    });
    let by_headers =
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || label == Some("sandbox");
    if by_headers {
        if let Some(id) = headers.get(SANDBOX_ID_HEADER) {
            let port = headers.get(SANDBOX_PORT_HEADER).map_or_else(
                || ENVD_PORT.to_string(),
                |p| String::from_utf8_lossy(p.as_bytes()).into_owned(),
            );
            return Destination::Sandbox {
                id: String::from_utf8_lossy(id.as_bytes()).into_owned(),
                port,
            };
        }
        return Destination::Api;
    }
    match label {
        Some("api") => Destination::E2bApi,
        // One label `<port>-<id>`: deeper names are not sandboxes'.
        Some(label) if !label.contains('.') => match label.split_once('-') {
            Some((port, id)) => Destination::Sandbox {
                id: id.to_owned(),
                port: port.to_owned(),
            },
            None => Destination::Api,
        },
        _ => Destination::Api,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn domain() -> Domain {
        Domain::parse("wrenn.localhost:8443").unwrap()
    }

    fn sandbox(id: &str, port: &str) -> Destination {
        Destination::Sandbox {
            id: id.into(),
            port: port.into(),
        }
    }

    #[test]
    fn classify_when_port_id_host_then_sandbox_whatever_host_port() {
        let uri = Uri::from_static("/health");
        for host in [
            "3000-abc123.wrenn.localhost",
            "3000-abc123.wrenn.localhost:8443",
            "3000-abc123.WRENN.localhost:1.",
            "3000-abc123.wrenn.localhost.",
        ] {
            let h = headers(&[("host", Box::leak(host.to_owned().into_boxed_str()))]);
            assert_eq!(
                classify(&h, &uri, Some(&domain())),
                sandbox("abc123", "3000"),
                "{host}"
            );
        }
        // Ids contain '-': the port is before the first one.
        let h = headers(&[("host", "49983-a-b.wrenn.localhost")]);
        assert_eq!(classify(&h, &uri, Some(&domain())), sandbox("a-b", "49983"));
    }

    #[test]
    fn classify_when_h2_authority_then_used_as_host() {
        let uri = Uri::from_static("https://3000-abc.wrenn.localhost:8443/x");
        assert_eq!(
            classify(&HeaderMap::new(), &uri, Some(&domain())),
            sandbox("abc", "3000")
        );
    }

    #[test]
    fn classify_when_headers_on_local_hosts_then_sandbox_default_envd_port() {
        let uri = Uri::from_static("/health");
        for host in [
            "localhost:8000",
            "127.0.0.1:8000",
            "[::1]:8000",
            "sandbox.wrenn.localhost",
        ] {
            let h = headers(&[
                ("host", Box::leak(host.to_owned().into_boxed_str())),
                ("e2b-sandbox-id", "abc"),
            ]);
            assert_eq!(
                classify(&h, &uri, Some(&domain())),
                sandbox("abc", "49983"),
                "{host}"
            );
        }
        let h = headers(&[
            ("host", "localhost"),
            ("e2b-sandbox-id", "abc"),
            ("e2b-sandbox-port", "3000"),
        ]);
        assert_eq!(classify(&h, &uri, None), sandbox("abc", "3000"));
    }

    #[test]
    fn classify_when_headers_on_other_hosts_then_api() {
        let uri = Uri::from_static("/v1/sandboxes");
        let h = headers(&[("host", "example.com"), ("e2b-sandbox-id", "abc")]);
        assert_eq!(classify(&h, &uri, Some(&domain())), Destination::Api);
        let h = headers(&[("host", "localhost:8000")]);
        assert_eq!(classify(&h, &uri, Some(&domain())), Destination::Api);
    }

    #[test]
    fn classify_when_api_or_foreign_names_then_not_sandbox() {
        let uri = Uri::from_static("/");
        let h = headers(&[("host", "api.wrenn.localhost:8443")]);
        assert_eq!(classify(&h, &uri, Some(&domain())), Destination::E2bApi);
        for host in [
            "wrenn.localhost",
            "a.b.wrenn.localhost",
            "nodash.wrenn.localhost",
            "3000-abc.otherwrenn.localhost",
            "3000-abc.example.com",
        ] {
            let h = headers(&[("host", Box::leak(host.to_owned().into_boxed_str()))]);
            assert_eq!(
                classify(&h, &uri, Some(&domain())),
                Destination::Api,
                "{host}"
            );
        }
        // Without a domain only the header routing exists.
        let h = headers(&[("host", "3000-abc.wrenn.localhost")]);
        assert_eq!(classify(&h, &uri, None), Destination::Api);
    }
}
