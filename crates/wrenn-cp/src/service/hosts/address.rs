//! Which addresses an agent may register at. The control plane dials every
//! registered address on its own network, so an address is a request the
//! control plane will make on a user's behalf: a bring-your-own-cloud host
//! is created by any team, and an unchecked address would let that team
//! point the control plane at its cloud metadata service or at a service on
//! the control plane's own machine (server-side request forgery).
//!
//! - Never: unspecified, multicast, broadcast, link-local (which holds the
//!   cloud metadata endpoints 169.254.169.254 and fd00:ec2::254 aside),
//!   `0.0.0.0/8` and the reserved `240.0.0.0/4`, port 0.
//! - Loopback: only with `CP_ALLOW_PRIVATE_HOST_ADDRS=true` (a one-machine
//!   install, where the agent is the control plane's neighbour).
//! - Private (RFC 1918, shared 100.64/10, IPv6 unique local): shared hosts
//!   may, as a platform's own fleet usually sits on a private network;
//!   a team's own (BYOC) host only with `CP_ALLOW_PRIVATE_HOST_ADDRS=true`.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whose host is registering, and what the platform admin allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// A team's own host (as opposed to a shared, platform host).
    pub byoc: bool,
    /// `CP_ALLOW_PRIVATE_HOST_ADDRS`.
    pub allow_private: bool,
}

/// Why an address is refused; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressRefusal {
    #[error("address {0} is not a unicast address a host can be reached at")]
    NotUnicast(SocketAddr),
    #[error("address {0} is link-local (the range of cloud metadata services); register the host's routable address")]
    LinkLocal(SocketAddr),
    #[error("address {0} is loopback; only a platform admin may allow it (CP_ALLOW_PRIVATE_HOST_ADDRS=true, for single-machine installs)")]
    Loopback(SocketAddr),
    #[error("address {0} is private; a team's own host must register a public address unless a platform admin sets CP_ALLOW_PRIVATE_HOST_ADDRS=true")]
    Private(SocketAddr),
    #[error("address {0} has port 0")]
    NoPort(SocketAddr),
}

/// Checks `address` against `policy`.
pub fn check(address: SocketAddr, policy: AddressPolicy) -> Result<(), AddressRefusal> {
    if address.port() == 0 {
        return Err(AddressRefusal::NoPort(address));
    }
    match classify(address.ip()) {
        Class::Public => Ok(()),
        Class::Never => Err(AddressRefusal::NotUnicast(address)),
        Class::LinkLocal => Err(AddressRefusal::LinkLocal(address)),
        Class::Loopback if policy.allow_private => Ok(()),
        Class::Loopback => Err(AddressRefusal::Loopback(address)),
        Class::Private if policy.allow_private || !policy.byoc => Ok(()),
        Class::Private => Err(AddressRefusal::Private(address)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Private,
    Loopback,
    LinkLocal,
    Never,
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        // An IPv4-mapped address (::ffff:a.b.c.d) reaches the IPv4 host.
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0 || a >= 240 {
        Class::Never
    } else if ip.is_link_local() {
        Class::LinkLocal
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let first = ip.segments()[0];
    if ip.is_unspecified() || ip.is_multicast() {
        Class::Never
    } else if ip.is_loopback() {
        Class::Loopback
    } else if first & 0xffc0 == 0xfe80 || ip == AWS_METADATA_V6 {
        Class::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        Class::Private
    } else {
        Class::Public
    }
}

/// The IPv6 instance metadata endpoint of EC2 (inside the unique-local range).
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

#[cfg(test)]
mod tests {
    use super::*;

    const BYOC: AddressPolicy = AddressPolicy {
        byoc: true,
        allow_private: false,
    };
    const SHARED: AddressPolicy = AddressPolicy {
        byoc: false,
        allow_private: false,
    };
    const ALLOWED: AddressPolicy = AddressPolicy {
        byoc: true,
        allow_private: true,
    };

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn check_when_metadata_or_link_local_then_refused_even_if_private_allowed() {
        for a in [
            "169.254.169.254:80",
            "169.254.0.1:50051",
            "[fe80::1]:50051",
            "[fd00:ec2::254]:80",
            "[::ffff:169.254.169.254]:80",
        ] {
            assert!(
                matches!(check(addr(a), ALLOWED), Err(AddressRefusal::LinkLocal(_))),
                "{a}"
            );
        }
    }

    #[test]
    fn check_when_never_unicast_then_refused() {
        for a in [
            "0.0.0.0:1",
            "224.0.0.1:1",
            "255.255.255.255:1",
            "240.0.0.1:1",
            "0.1.2.3:1",
            "[::]:1",
            "[ff02::1]:1",
        ] {
            assert!(
                matches!(check(addr(a), ALLOWED), Err(AddressRefusal::NotUnicast(_))),
                "{a}"
            );
        }
    }

    #[test]
    fn check_when_loopback_then_only_with_flag() {
        for a in [
            "127.0.0.1:18555",
            "127.8.0.1:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(
                matches!(check(addr(a), SHARED), Err(AddressRefusal::Loopback(_))),
                "{a}"
            );
            assert!(
                matches!(check(addr(a), BYOC), Err(AddressRefusal::Loopback(_))),
                "{a}"
            );
            assert_eq!(check(addr(a), ALLOWED), Ok(()), "{a}");
        }
    }

    #[test]
    fn check_when_private_then_shared_hosts_yes_byoc_only_with_flag() {
        for a in [
            "10.0.0.5:50051",
            "172.16.1.1:1",
            "192.168.1.1:1",
            "100.64.0.1:1",
            "[fd12::1]:1",
        ] {
            assert_eq!(check(addr(a), SHARED), Ok(()), "{a}");
            assert!(
                matches!(check(addr(a), BYOC), Err(AddressRefusal::Private(_))),
                "{a}"
            );
            assert_eq!(check(addr(a), ALLOWED), Ok(()), "{a}");
        }
    }

    #[test]
    fn check_when_public_then_accepted_unless_port_zero() {
        assert_eq!(check(addr("203.0.113.7:50051"), BYOC), Ok(()));
        assert_eq!(check(addr("[2001:db8::1]:50051"), BYOC), Ok(()));
        assert!(matches!(
            check(addr("203.0.113.7:0"), BYOC),
            Err(AddressRefusal::NoPort(_))
        ));
    }
}
