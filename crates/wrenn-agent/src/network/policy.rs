//! Egress policy of one sandbox, parsed from user input into typed CIDRs.
//! It is enforced by the host's nftables (see `rules.rs`), never in the guest.
use std::{net::Ipv4Addr, str::FromStr};

use ipnet::Ipv4Net;

/// Most entries one allow or deny list may hold (keeps rulesets small).
pub const MAX_POLICY_ENTRIES: usize = 256;

/// What a sandbox may reach. Order of precedence: `deny`, then `allow`, then
/// the default (private and reserved ranges denied, the rest by `internet`).
/// The host itself, other sandboxes and link-local ranges are always denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    pub internet: bool,
    pub allow: Vec<Ipv4Net>,
    pub deny: Vec<Ipv4Net>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            internet: true,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// Neither `a.b.c.d/n` nor a bare IPv4 address.
    #[error("`{input}` is not an IPv4 address or CIDR")]
    InvalidCidr { input: String },
    /// `10.0.0.1/8`: ambiguous, so refused rather than silently truncated.
    #[error("`{input}` has host bits set; did you mean `{network}`?")]
    HostBitsSet { input: String, network: Ipv4Net },
    #[error("the {list} list has {len} entries; at most {MAX_POLICY_ENTRIES} are allowed")]
    TooManyEntries { list: &'static str, len: usize },
}

impl EgressPolicy {
    /// Parses user-supplied lists; a bare address means a /32.
    pub fn parse<S: AsRef<str>>(
        internet: bool,
        allow: &[S],
        deny: &[S],
    ) -> Result<Self, PolicyError> {
        Ok(Self {
            internet,
            allow: parse_list("allow", allow)?,
            deny: parse_list("deny", deny)?,
        })
    }
}

fn parse_list<S: AsRef<str>>(
    list: &'static str,
    inputs: &[S],
) -> Result<Vec<Ipv4Net>, PolicyError> {
    if inputs.len() > MAX_POLICY_ENTRIES {
        return Err(PolicyError::TooManyEntries {
            list,
            len: inputs.len(),
        });
    }
    inputs.iter().map(|s| parse_cidr(s.as_ref())).collect()
}

/// Parses one CIDR or bare address strictly.
pub fn parse_cidr(input: &str) -> Result<Ipv4Net, PolicyError> {
    let trimmed = input.trim();
    let net = match Ipv4Net::from_str(trimmed) {
        Ok(net) => net,
        Err(_) => Ipv4Addr::from_str(trimmed)
            .map(Ipv4Net::from)
            .map_err(|_| PolicyError::InvalidCidr {
                input: input.to_owned(),
            })?,
    };
    if net.trunc() != net {
        return Err(PolicyError::HostBitsSet {
            input: input.to_owned(),
            network: net.trunc(),
        });
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_when_cidrs_and_bare_addresses_then_typed_nets() {
        let policy = EgressPolicy::parse(false, &["10.1.0.0/16", "8.8.8.8"], &["8.8.4.4/32"])
            .expect("policy");
        assert_eq!(
            policy.allow,
            vec![
                parse_cidr("10.1.0.0/16").expect("net"),
                parse_cidr("8.8.8.8/32").expect("net")
            ]
        );
        assert_eq!(policy.deny.len(), 1);
    }

    #[test]
    fn parse_when_garbage_then_invalid_cidr() {
        for bad in [
            "",
            "10.0.0.0/33",
            "300.1.1.1",
            "::1",
            "10.0.0.0/8; drop",
            "example.com",
        ] {
            assert_eq!(
                parse_cidr(bad),
                Err(PolicyError::InvalidCidr {
                    input: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn parse_when_host_bits_set_then_error_names_network() {
        let err = parse_cidr("10.0.0.1/8").expect_err("host bits");
        assert_eq!(
            err,
            PolicyError::HostBitsSet {
                input: "10.0.0.1/8".into(),
                network: "10.0.0.0/8".parse().expect("net")
            }
        );
    }

    #[test]
    fn parse_when_list_too_long_then_too_many_entries() {
        let many = vec!["1.1.1.1"; MAX_POLICY_ENTRIES + 1];
        let err = EgressPolicy::parse(true, &many, &[]).expect_err("too many");
        assert_eq!(
            err,
            PolicyError::TooManyEntries {
                list: "allow",
                len: MAX_POLICY_ENTRIES + 1
            }
        );
    }
}
