//! Where a webhook may point: `http(s)` URLs whose host resolves only to
//! public addresses, unless the operator allows private ones
//! (`CP_WEBHOOK_ALLOW_PRIVATE`, for tests and closed networks). Checked
//! when the URL is set and again at each delivery, which then connects to
//! the address checked (no second lookup to rebind).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the webhook url is not an http or https URL with a host: {0}")]
    Malformed(String),
    #[error("the webhook url's host does not resolve: {0}")]
    Unresolved(String),
    #[error("the webhook url's host resolves to a loopback, link-local or private address ({0}); only public addresses are allowed")]
    NotPublic(IpAddr),
}

/// The URL's host and the addresses it may be reached at.
pub async fn check_url(url: &str, allow_private: bool) -> Result<(String, SocketAddr), UrlError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| UrlError::Malformed(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || url.len() > 2048 {
        return Err(UrlError::Malformed(url.to_owned()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| UrlError::Malformed(url.to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| UrlError::Malformed(url.to_owned()))?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| UrlError::Unresolved(e.to_string()))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| UrlError::Unresolved(host.clone()))?;
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(UrlError::NotPublic(bad.ip()));
        }
    }
    Ok((host, first))
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || first & 0xffc0 == 0xfe80
        || first & 0xfe00 == 0xfc00)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn check_url_when_loopback_or_private_then_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/hook",
            "http://169.254.169.254/latest",
            "http://[::1]:8080/",
            "http://[fd00::1]/",
            "http://100.64.0.1/",
        ] {
            assert!(
                matches!(check_url(url, false).await, Err(UrlError::NotPublic(_))),
                "{url}"
            );
        }
        assert!(check_url("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(check_url("http://93.184.216.34/hook", false).await.is_ok());
        for url in [
            "ftp://93.184.216.34/",
            "not a url",
            "file:///etc/passwd",
            "http://",
        ] {
            assert!(
                matches!(check_url(url, false).await, Err(UrlError::Malformed(_))),
                "{url}"
            );
        }
    }
}
