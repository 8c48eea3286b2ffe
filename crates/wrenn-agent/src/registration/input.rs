//! What an operator types for `--register`: the registration token, the
//! address the control plane dials and the control plane's URL, each parsed
//! into a type that cannot hold a malformed value.
use std::{net::SocketAddr, str::FromStr};

/// Prefix of registration tokens (`wrh_` + 32 base62 characters).
pub const TOKEN_PREFIX: &str = "wrh_";
const TOKEN_BODY_LEN: usize = 32;

/// A one-time registration token. `Debug` shows only its prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationToken(String);

/// `ip:port` of this agent as the control plane dials it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostAddress(SocketAddr);

/// Base URL of the control plane (`http://host:port`, no path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpUrl(reqwest::Url);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("a registration token is `wrh_` followed by 32 letters and digits (copy it from the `POST /v1/hosts` answer)")]
    TokenShape,
    #[error("'{0}' is not ip:port (for example 10.0.0.5:50051)")]
    AddressShape(String),
    #[error("'{0}': the control plane cannot dial port 0")]
    AddressPortZero(String),
    #[error("'{0}': the control plane cannot dial an unspecified, multicast or broadcast address; give this host's own address")]
    AddressNotDialable(String),
    #[error("'{0}' is not a URL like http://cp.example:8000")]
    UrlShape(String),
    #[error("'{0}': only http:// control-plane URLs are supported by this build")]
    UrlScheme(String),
    #[error("'{0}': give the control plane's base URL, without path, query or credentials")]
    UrlExtra(String),
}

impl RegistrationToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for RegistrationToken {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        let s = s.trim();
        let body = s.strip_prefix(TOKEN_PREFIX).ok_or(InputError::TokenShape)?;
        if body.len() != TOKEN_BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InputError::TokenShape);
        }
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for RegistrationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistrationToken({TOKEN_PREFIX}<redacted>)")
    }
}

impl HostAddress {
    pub fn socket_addr(self) -> SocketAddr {
        self.0
    }
}

impl FromStr for HostAddress {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        let addr: SocketAddr = s
            .trim()
            .parse()
            .map_err(|_| InputError::AddressShape(s.to_owned()))?;
        if addr.port() == 0 {
            return Err(InputError::AddressPortZero(s.to_owned()));
        }
        let ip = addr.ip();
        let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
        if ip.is_unspecified() || ip.is_multicast() || broadcast {
            return Err(InputError::AddressNotDialable(s.to_owned()));
        }
        Ok(Self(addr))
    }
}

impl std::fmt::Display for HostAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl CpUrl {
    /// `path` (starting with `/`) on the control plane.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.as_str())
    }

    /// The URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

impl FromStr for CpUrl {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        let raw = s.trim();
        let url = reqwest::Url::parse(raw).map_err(|_| InputError::UrlShape(raw.to_owned()))?;
        if url.scheme() != "http" {
            return Err(InputError::UrlScheme(raw.to_owned()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InputError::UrlShape(raw.to_owned()));
        }
        let extra = (url.path() != "/" && !url.path().is_empty())
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some();
        if extra {
            return Err(InputError::UrlExtra(raw.to_owned()));
        }
        Ok(Self(url))
    }
}

impl std::fmt::Display for CpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "wrh_0123456789abcdefghijABCDEFGHIJkl";

    #[test]
    fn token_parse_when_prefix_and_32_alphanumerics_then_ok() {
        let token: RegistrationToken = TOKEN.parse().expect("valid");
        assert_eq!(token.expose(), TOKEN);
        let padded: RegistrationToken = format!(" {TOKEN}\n").parse().expect("trimmed");
        assert_eq!(padded.expose(), TOKEN);
    }

    #[test]
    fn token_parse_when_malformed_then_shape_error() {
        for bad in [
            "",
            "wrh_",
            "wrn_0123456789abcdefghijABCDEFGHIJkl",
            "wrh_0123456789abcdefghijABCDEFGHIJk",
            "wrh_0123456789abcdefghijABCDEFGHIJklm",
            "wrh_0123456789abcdefghij-BCDEFGHIJkl",
        ] {
            assert_eq!(
                bad.parse::<RegistrationToken>(),
                Err(InputError::TokenShape),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_debug_when_printed_then_redacted() {
        let token: RegistrationToken = TOKEN.parse().expect("valid");
        assert!(!format!("{token:?}").contains(&TOKEN[4..]));
    }

    #[test]
    fn address_parse_when_ip_and_port_then_ok() {
        let addr: HostAddress = "10.0.0.5:50051".parse().expect("v4");
        assert_eq!(addr.to_string(), "10.0.0.5:50051");
        assert!("[fd00::5]:50051".parse::<HostAddress>().is_ok());
    }

    #[test]
    fn address_parse_when_not_dialable_then_error() {
        assert!(matches!(
            "cp.example:50051".parse::<HostAddress>(),
            Err(InputError::AddressShape(_))
        ));
        assert!(matches!(
            "10.0.0.5".parse::<HostAddress>(),
            Err(InputError::AddressShape(_))
        ));
        assert!(matches!(
            "10.0.0.5:0".parse::<HostAddress>(),
            Err(InputError::AddressPortZero(_))
        ));
        for bad in [
            "0.0.0.0:50051",
            "[::]:50051",
            "224.0.0.1:1",
            "255.255.255.255:1",
        ] {
            assert!(
                matches!(
                    bad.parse::<HostAddress>(),
                    Err(InputError::AddressNotDialable(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn cp_url_parse_when_base_url_then_joined_without_double_slash() {
        let url: CpUrl = "http://10.0.0.1:8000/".parse().expect("valid");
        assert_eq!(url.as_str(), "http://10.0.0.1:8000");
        assert_eq!(
            url.join("/v1/hosts/register"),
            "http://10.0.0.1:8000/v1/hosts/register"
        );
    }

    #[test]
    fn cp_url_parse_when_not_a_base_http_url_then_error() {
        assert!(matches!(
            "10.0.0.1:8000".parse::<CpUrl>(),
            Err(InputError::UrlShape(_) | InputError::UrlScheme(_))
        ));
        assert!(matches!(
            "https://cp.example".parse::<CpUrl>(),
            Err(InputError::UrlScheme(_))
        ));
        assert!(matches!(
            "http://cp.example/api".parse::<CpUrl>(),
            Err(InputError::UrlExtra(_))
        ));
        assert!(matches!(
            "http://user:pw@cp.example".parse::<CpUrl>(),
            Err(InputError::UrlExtra(_))
        ));
    }
}
