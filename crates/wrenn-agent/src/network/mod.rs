//! Per-sandbox networking: one slot per sandbox, each with a network
//! namespace `wrn-<slot>` (`AGENT_NETNS_PREFIX` changes `wrn-`), a veth pair
//! to the host and a TAP device for the VM, plus nftables NAT and egress
//! policy enforced outside the guest.
//!
//! Address plan (defaults; the host range is configurable):
//!
//! | what | address |
//! |---|---|
//! | guest `eth0` (every sandbox) | 169.254.0.21/30, MAC 02:fc:00:00:00:01 |
//! | `tap0` in `wrn-<slot>` (gateway) | 169.254.0.22/30, MAC 02:fc:00:00:00:02 |
//! | host `wrn-v<slot>` | 10.200.0.0/16 + 2·slot, /31 |
//! | `veth0` in `wrn-<slot>` = envd address | 10.200.0.0/16 + 2·slot + 1, /31 |
//!
//! Everything sent to the namespace side of the veth is DNATed to the guest,
//! so the agent reaches envd at `http://<ns_addr>:49983` (in
//! [`NetworkHandle::envd_addr`]). Guest traffic is masqueraded twice: to the
//! veth address in the namespace, then to the host's outgoing address.
//!
//! Commands: `ip` and `nft` run through [`cmd`] (argument vectors, never a
//! shell; errors carry stderr).
pub mod cleanup;
pub mod cmd;
pub mod plan;
pub mod policy;
pub mod resolver;
pub mod rules;
pub mod sandbox;
pub mod slots;

pub use cleanup::{cleanup_leftovers, CleanupReport};
pub use plan::{
    ConfigError, GuestLink, NetnsPrefix, NetnsPrefixError, NetworkConfig, SlotAddrs, ENVD_PORT,
    GATEWAY_IP, GUEST_IP,
};
pub use policy::{EgressPolicy, PolicyError};
pub use resolver::{GuestDns, GuestDnsError};
pub use sandbox::{NetworkError, NetworkHandle, SandboxNetwork};
pub use slots::{Slot, SlotAllocator, SlotError, SlotLease};
