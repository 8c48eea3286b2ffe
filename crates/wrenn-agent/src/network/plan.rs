//! The address plan: configuration of the host's sandbox networking and the
//! names and addresses it gives each slot.
use std::net::{Ipv4Addr, SocketAddrV4};

use ipnet::Ipv4Net;

use super::slots::Slot;

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
/// Every namespace, link and nftables table this module creates starts so.
pub const NAME_PREFIX: &str = "wrn-";
/// The host nftables table (`inet wrenn`).
pub const HOST_TABLE: &str = "wrenn";
/// Device names inside a slot's namespace.
pub const NS_VETH: &str = "veth0";
pub const TAP_NAME: &str = "tap0";

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
    /// Resolver handed to the guest in the kernel `ip=` argument.
    pub dns: Ipv4Addr,
    pub guest_link: GuestLink,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            host_range: Ipv4Net::new(Ipv4Addr::new(10, 200, 0, 0), 16).unwrap_or_default(),
            max_slots: 1024,
            dns: Ipv4Addr::new(1, 1, 1, 1),
            guest_link: GuestLink::Tap,
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
            netns: format!("{NAME_PREFIX}{slot}"),
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
