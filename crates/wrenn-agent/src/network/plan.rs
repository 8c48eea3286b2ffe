//! The address plan: configuration of the host's sandbox networking and the
//! names and addresses it gives each slot.
use std::{
    net::{Ipv4Addr, SocketAddrV4},
    str::FromStr,
};

use ipnet::Ipv4Net;

use super::{resolver::GuestDns, slots::Slot};

/// Guest address inside every sandbox (the same everywhere, so a memory
/// snapshot restores in any slot on any host).
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 21);
/// Gateway (the TAP device inside the slot's namespace).
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 22);
pub const GUEST_PREFIX_LEN: u8 = 30;
/// Fixed MACs, for the same reason as [`GUEST_IP`]: a restored guest's ARP
/// cache stays valid.
pub const GUEST_MAC: &str = "02:fc:00:00:00:01";
pub const GATEWAY_MAC: &str = "02:fc:00:00:00:02";
pub const ENVD_PORT: u16 = 49983;
/// Every link and nftables table this module creates starts so, and so do
/// the per-sandbox namespaces unless [`NetnsPrefix`] says otherwise.
pub const NAME_PREFIX: &str = "wrn-";
/// The host nftables table (`inet wrenn`).
pub const HOST_TABLE: &str = "wrenn";
/// Device names inside a slot's namespace.
pub const NS_VETH: &str = "veth0";
pub const TAP_NAME: &str = "tap0";

/// Prefix of the per-sandbox network namespaces (`AGENT_NETNS_PREFIX`).
///
/// Namespaces are named in `/run/netns`, which every agent on a machine
/// shares, whereas links and nftables tables live in the agent's own
/// namespace. Agents that share a machine therefore need different prefixes,
/// and each one's start-up sweep removes only `<prefix><digits>`. A prefix
/// never ends with a digit, so no agent's names match another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsPrefix(String);

/// Longest accepted [`NetnsPrefix`].
pub const MAX_NETNS_PREFIX_LEN: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetnsPrefixError {
    #[error("must be 1 to {MAX_NETNS_PREFIX_LEN} characters long")]
    Length,
    #[error("may hold only a-z, 0-9 and '-'")]
    Characters,
    #[error("must not end with a digit (the slot number follows it)")]
    EndsWithDigit,
}

impl NetnsPrefix {
    /// The namespace of `slot`.
    pub fn name(&self, slot: Slot) -> String {
        format!("{}{slot}", self.0)
    }

    /// True when `netns` is one of this prefix's names (`<prefix><digits>`).
    pub fn owns(&self, netns: &str) -> bool {
        netns
            .strip_prefix(self.0.as_str())
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for NetnsPrefix {
    fn default() -> Self {
        Self(NAME_PREFIX.to_owned())
    }
}

impl FromStr for NetnsPrefix {
    type Err = NetnsPrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > MAX_NETNS_PREFIX_LEN {
            return Err(NetnsPrefixError::Length);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(NetnsPrefixError::Characters);
        }
        if s.ends_with(|c: char| c.is_ascii_digit()) {
            return Err(NetnsPrefixError::EndsWithDigit);
        }
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Display for NetnsPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the guest side is attached inside the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GuestLink {
    /// A TAP device the VMM opens (production).
    #[default]
    Tap,
    /// Tests: a veth named like the TAP whose peer `eth0` is moved into the
    /// existing namespace `<netns_prefix><slot>`, which stands in for the VM.
    VethInto { netns_prefix: String },
}

/// Host-wide sandbox networking settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Range carved into one /31 per slot (host side even, namespace odd).
    pub host_range: Ipv4Net,
    pub max_slots: u32,
    /// Resolvers handed to the guest in the kernel `ip=` argument, and
    /// reachable on port 53 from sandboxes with internet access.
    pub dns: GuestDns,
    pub guest_link: GuestLink,
    /// Names the per-sandbox namespaces (`<prefix><slot>`).
    pub netns_prefix: NetnsPrefix,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            host_range: Ipv4Net::new(Ipv4Addr::new(10, 200, 0, 0), 16).unwrap_or_default(),
            max_slots: 1024,
            dns: GuestDns::default(),
            guest_link: GuestLink::Tap,
            netns_prefix: NetnsPrefix::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("at least one network slot is needed")]
    NoSlots,
    #[error("host range {range} holds {capacity} slots, fewer than the {max_slots} configured")]
    RangeTooSmall {
        range: Ipv4Net,
        capacity: u64,
        max_slots: u32,
    },
    #[error("host range {range} overlaps the link-local range used inside sandboxes")]
    RangeOverlapsLinkLocal { range: Ipv4Net },
}

impl NetworkConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = self.host_range.trunc();
        if self.max_slots == 0 {
            return Err(ConfigError::NoSlots);
        }
        let capacity = (1u64 << (32 - u32::from(range.prefix_len()))) / 2;
        if u64::from(self.max_slots) > capacity {
            return Err(ConfigError::RangeTooSmall {
                range,
                capacity,
                max_slots: self.max_slots,
            });
        }
        let link_local = Ipv4Net::new(Ipv4Addr::new(169, 254, 0, 0), 16).unwrap_or_default();
        if range.contains(&link_local.network()) || link_local.contains(&range.network()) {
            return Err(ConfigError::RangeOverlapsLinkLocal { range });
        }
        Ok(())
    }

    /// Names and addresses of one slot. The slot must be below `max_slots`
    /// of a validated config.
    pub fn slot_addrs(&self, slot: Slot) -> SlotAddrs {
        let base = u32::from(self.host_range.trunc().network());
        let host = base + 2 * slot.index();
        SlotAddrs {
            slot,
            netns: self.netns_prefix.name(slot),
            host_veth: format!("{NAME_PREFIX}v{slot}"),
            host_addr: Ipv4Addr::from(host),
            ns_addr: Ipv4Addr::from(host + 1),
        }
    }
}

/// Where one slot lives. `ns_addr` is also the host-reachable envd address:
/// the namespace DNATs everything sent to it on to [`GUEST_IP`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAddrs {
    pub slot: Slot,
    pub netns: String,
    pub host_veth: String,
    pub host_addr: Ipv4Addr,
    pub ns_addr: Ipv4Addr,
}

impl SlotAddrs {
    pub fn envd_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ns_addr, ENVD_PORT)
    }

    /// Name of the slot's chain in the host table.
    pub fn host_chain(&self) -> String {
        format!("slot-{}", self.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::SlotAllocator;

    #[test]
    fn slot_addrs_when_slot_3_then_fourth_slash_31() {
        let slot = SlotAllocator::new(8).claim(3).expect("slot").slot();
        let addrs = NetworkConfig::default().slot_addrs(slot);
        assert_eq!(addrs.netns, "wrn-3");
        assert_eq!(addrs.host_veth, "wrn-v3");
        assert_eq!(addrs.host_addr, Ipv4Addr::new(10, 200, 0, 6));
        assert_eq!(addrs.envd_addr().to_string(), "10.200.0.7:49983");
    }

    #[test]
    fn slot_addrs_when_netns_prefix_then_only_the_namespace_renamed() {
        let slot = SlotAllocator::new(8).claim(3).expect("slot").slot();
        let config = NetworkConfig {
            netns_prefix: "wma-".parse().expect("prefix"),
            ..Default::default()
        };
        let addrs = config.slot_addrs(slot);
        assert_eq!(addrs.netns, "wma-3");
        assert_eq!(addrs.host_veth, "wrn-v3");
    }

    #[test]
    fn netns_prefix_parse_when_invalid_then_error() {
        assert_eq!("".parse::<NetnsPrefix>(), Err(NetnsPrefixError::Length));
        assert_eq!(
            "abcdefghi".parse::<NetnsPrefix>(),
            Err(NetnsPrefixError::Length)
        );
        assert_eq!(
            "Wrn-".parse::<NetnsPrefix>(),
            Err(NetnsPrefixError::Characters)
        );
        assert_eq!(
            "wrn_".parse::<NetnsPrefix>(),
            Err(NetnsPrefixError::Characters)
        );
        assert_eq!(
            "wrn1".parse::<NetnsPrefix>(),
            Err(NetnsPrefixError::EndsWithDigit)
        );
        assert!("a".parse::<NetnsPrefix>().is_ok());
        assert!("wrn-a-".parse::<NetnsPrefix>().is_ok());
    }

    #[test]
    fn netns_prefix_owns_when_prefix_and_digits_only_then_true() {
        let default = NetnsPrefix::default();
        assert!(default.owns("wrn-12"));
        assert!(!default.owns("wrn-"));
        assert!(!default.owns("wrn-v12"));
        assert!(!default.owns("wrn-a3"), "another agent's wrn-a prefix");
        assert!(!default.owns("wrnt-g3"));
        let other: NetnsPrefix = "wrn-a".parse().expect("prefix");
        assert!(other.owns("wrn-a3"));
        assert!(!other.owns("wrn-3"));
    }

    #[test]
    fn validate_when_range_too_small_then_error() {
        let config = NetworkConfig {
            host_range: "10.9.0.0/28".parse().expect("net"),
            max_slots: 9,
            ..Default::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::RangeTooSmall { capacity: 8, .. })
        ));
    }

    #[test]
    fn validate_when_link_local_then_error() {
        let config = NetworkConfig {
            host_range: "169.254.0.0/20".parse().expect("net"),
            max_slots: 4,
            ..Default::default()
        };
        assert!(matches!(
            config.validate(),
            Err(ConfigError::RangeOverlapsLinkLocal { .. })
        ));
    }
}
