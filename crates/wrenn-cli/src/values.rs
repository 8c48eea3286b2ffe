//! Small validated values parsed from the command line: `K=V` pairs, CIDRs,
//! and identifiers that are safe to place in a URL path.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// the argument has no `=` or an empty key
    #[error("expected K=V with a non-empty key, got {0:?}")]
    KeyValue(String),
    #[error("expected an IP address or CIDR such as 10.0.0.0/8, got {0:?}")]
    Cidr(String),
    #[error("expected a non-empty name without '/', '?', '#', '%' or spaces, got {0:?}")]
    PathSegment(String),
}

/// A `K=V` argument; the value may contain further `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl FromStr for KeyValue {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(Self {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
            _ => Err(ValueError::KeyValue(s.to_owned())),
        }
    }
}

/// An address with an optional prefix length, kept in the form it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr(String);

impl Cidr {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Cidr {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError::Cidr(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if let Some(prefix) = prefix {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len: u8 = prefix.parse().map_err(|_| bad())?;
            if len > max {
                return Err(bad());
            }
        }
        Ok(Self(s.to_owned()))
    }
}

/// An id or name placed verbatim into a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSegment(String);

impl PathSegment {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PathSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PathSegment {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let forbidden = |c: char| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace();
        if s.is_empty() || s == "." || s == ".." || s.contains(forbidden) {
            return Err(ValueError::PathSegment(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_when_value_has_equals_then_split_at_first() {
        let kv: KeyValue = "A=b=c".parse().expect("valid pair");
        assert_eq!((kv.key.as_str(), kv.value.as_str()), ("A", "b=c"));
    }

    #[test]
    fn key_value_when_no_equals_or_empty_key_then_error() {
        assert!("A".parse::<KeyValue>().is_err());
        assert!("=v".parse::<KeyValue>().is_err());
    }

    #[test]
    fn cidr_when_valid_forms_then_accepted() {
        for ok in ["10.0.0.0/8", "1.2.3.4", "::1/128", "fd00::/8"] {
            assert!(ok.parse::<Cidr>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn cidr_when_prefix_too_long_or_not_ip_then_error() {
        for bad in ["10.0.0.0/33", "example.com", "1.2.3.4/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn path_segment_when_slash_or_dots_then_error() {
        for bad in ["", "a/b", "..", "a?b", "a b"] {
            assert!(bad.parse::<PathSegment>().is_err(), "{bad:?}");
        }
        assert!("sb_01HX-abc".parse::<PathSegment>().is_ok());
    }
}
