//! Small validated values parsed from the command line: `K=V` pairs, CIDRs,
//! identifiers that are safe to place in a URL path, a build's `NAME[:TAG]`
//! and its `--build-arg`s.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use wrenn_types::TemplateName;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// the argument has no `=` or an empty key
    #[error("expected K=V with a non-empty key, got {0:?}")]
    KeyValue(String),
    #[error("expected an IP address or CIDR such as 10.0.0.0/8, got {0:?}")]
    Cidr(String),
    #[error("expected a non-empty name without '/', '?', '#', '%' or spaces, got {0:?}")]
    PathSegment(String),
    #[error("expected NAME or NAME:TAG, each 1-63 characters of a-z, 0-9, '-', '_' and '.' starting with a letter or digit, got {0:?}")]
    BuildTarget(String),
    #[error("expected a build argument NAME=VALUE, NAME made of letters, digits and '_' and not starting with a digit, got {0:?}")]
    BuildArg(String),
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

/// `-t NAME[:TAG]` of a build; the tag is left to the server (`latest`)
/// when none is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildTarget {
    pub name: TemplateName,
    pub tag: Option<TemplateName>,
}

impl fmt::Display for BuildTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{}:{}", self.name, tag),
            None => write!(f, "{}", self.name),
        }
    }
}

impl FromStr for BuildTarget {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError::BuildTarget(s.to_owned());
        let (name, tag) = match s.split_once(':') {
            Some((name, tag)) => (name, Some(tag)),
            None => (s, None),
        };
        let name = name.parse::<TemplateName>().map_err(|_| bad())?;
        let tag = tag
            .map(|t| t.parse::<TemplateName>().map_err(|_| bad()))
            .transpose()?;
        Ok(Self { name, tag })
    }
}

/// `--build-arg NAME=VALUE`: NAME is what `ARG NAME` can declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArg {
    pub key: String,
    pub value: String,
}

impl FromStr for BuildArg {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError::BuildArg(s.to_owned());
        let (key, value) = s.split_once('=').ok_or_else(bad)?;
        let mut chars = key.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_target_when_name_or_name_tag_then_split() {
        let t: BuildTarget = "myapp".parse().expect("valid");
        assert_eq!((t.name.as_str(), t.tag.is_none()), ("myapp", true));
        let t: BuildTarget = "myapp:v1.2".parse().expect("valid");
        assert_eq!(t.tag.as_ref().map(|t| t.as_str()), Some("v1.2"));
        assert_eq!(t.to_string(), "myapp:v1.2");
    }

    #[test]
    fn build_target_when_malformed_then_error() {
        for bad in [
            "", "MyApp", "a:", ":v1", "a:b:c", "../x", "a/b", "-a", "a:V1",
        ] {
            assert!(bad.parse::<BuildTarget>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn build_arg_when_valid_then_value_may_hold_equals() {
        let a: BuildArg = "PY_VERSION=3.11=x".parse().expect("valid");
        assert_eq!((a.key.as_str(), a.value.as_str()), ("PY_VERSION", "3.11=x"));
        assert!("_X=".parse::<BuildArg>().is_ok());
    }

    #[test]
    fn build_arg_when_malformed_then_error() {
        for bad in ["NOVALUE", "=v", "1A=v", "A-B=v", "A B=v"] {
            assert!(bad.parse::<BuildArg>().is_err(), "{bad:?}");
        }
    }

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
