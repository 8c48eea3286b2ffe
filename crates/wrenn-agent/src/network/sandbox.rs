//! Creating and destroying one slot's network: namespace, veth pair, TAP,
//! addresses, routes and nftables rules. A failed create removes exactly what
//! it made; destroy removes whatever of the slot still exists.
use std::{net::SocketAddrV4, path::Path};

use super::{
    cmd::{self, CommandError},
    plan::{
        ConfigError, GuestLink, NetworkConfig, SlotAddrs, GATEWAY_IP, GATEWAY_MAC, GUEST_IP,
        GUEST_MAC, GUEST_PREFIX_LEN, HOST_TABLE, NS_VETH, TAP_NAME,
    },
    policy::EgressPolicy,
    rules,
    slots::Slot,
};
use crate::vmm::TapAttachment;

/// A networking step that failed; `step` says which.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("sandbox network: cannot {step}")]
    Step {
        step: &'static str,
        #[source]
        source: CommandError,
    },
}

/// What the VMM and the agent need once a slot's network exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkHandle {
    pub slot: Slot,
    /// Give to the VMM as `GuestNet::Tap`.
    pub tap: TapAttachment,
    /// Where the host reaches envd (`http://{envd_addr}`).
    pub envd_addr: SocketAddrV4,
    pub addrs: SlotAddrs,
}

/// Host-wide sandbox networking with a validated configuration.
#[derive(Debug, Clone)]
pub struct SandboxNetwork {
    config: NetworkConfig,
}

/// What a create has made so far, for its rollback.
#[derive(Debug, Default)]
struct Made {
    netns: bool,
    veth: bool,
    host_rules: bool,
}

impl SandboxNetwork {
    pub fn new(config: NetworkConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { config })
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Turns on IPv4 forwarding and (re)installs the host table. Call once at
    /// start-up, after [`super::cleanup_leftovers`] and before any create:
    /// it replaces the table, dropping every slot's chain.
    pub async fn init_host(&self) -> Result<(), NetworkError> {
        step(
            "enable IPv4 forwarding",
            cmd::run("sysctl", &["-qw", "net.ipv4.ip_forward=1"], None),
        )
        .await?;
        step(
            "install the host nftables table",
            cmd::nft_apply(None, &rules::host_table(self.config.host_range)),
        )
        .await
    }

    /// Builds the slot's network with `policy`; on failure nothing of it stays.
    pub async fn create(
        &self,
        slot: Slot,
        policy: &EgressPolicy,
    ) -> Result<NetworkHandle, NetworkError> {
        let addrs = self.config.slot_addrs(slot);
        let mut made = Made::default();
        match self.build(&addrs, policy, &mut made).await {
            Ok(()) => {
                tracing::info!(slot = %slot, netns = %addrs.netns, envd = %addrs.envd_addr(), "sandbox network created");
                Ok(self.handle(addrs))
            }
            Err(err) => {
                rollback(&addrs, &made).await;
                Err(err)
            }
        }
    }

    /// Applies `policy` to the slot's running network at once.
    pub async fn update_policy(
        &self,
        slot: Slot,
        policy: &EgressPolicy,
    ) -> Result<(), NetworkError> {
        let addrs = self.config.slot_addrs(slot);
        step(
            "replace the host rules",
            cmd::nft_apply(
                None,
                &rules::host_slot_replace(&addrs, self.config.host_range, &self.config.dns, policy),
            ),
        )
        .await?;
        tracing::info!(slot = %slot, "sandbox egress policy updated");
        Ok(())
    }

    /// Removes the slot's rules, veth and namespace (with its TAP); parts
    /// already gone are skipped, and every part is tried even after a failure.
    pub async fn destroy(&self, slot: Slot) -> Result<(), NetworkError> {
        let addrs = self.config.slot_addrs(slot);
        let mut first_error = None;
        if host_chain_exists(&addrs).await {
            let result = step(
                "remove host rules",
                cmd::nft_apply(None, &rules::host_slot_delete(&addrs)),
            )
            .await;
            first_error = first_error.or(result.err());
        }
        if link_exists(&addrs.host_veth) {
            let result = step(
                "delete the host veth",
                cmd::ip(&["link", "del", &addrs.host_veth]),
            )
            .await;
            first_error = first_error.or(result.err());
        }
        if netns_exists(&addrs.netns) {
            let result = step(
                "delete the namespace",
                cmd::ip(&["netns", "del", &addrs.netns]),
            )
            .await;
            first_error = first_error.or(result.err());
        }
        match first_error {
            None => {
                tracing::info!(slot = %slot, "sandbox network destroyed");
                Ok(())
            }
            Some(err) => Err(err),
        }
    }

    async fn build(
        &self,
        a: &SlotAddrs,
        policy: &EgressPolicy,
        made: &mut Made,
    ) -> Result<(), NetworkError> {
        let ns = a.netns.as_str();
        let host_cidr = format!("{}/31", a.host_addr);
        let ns_cidr = format!("{}/31", a.ns_addr);
        let gateway_cidr = format!("{GATEWAY_IP}/{GUEST_PREFIX_LEN}");
        let host_addr = a.host_addr.to_string();

        step("create the namespace", cmd::ip(&["netns", "add", ns])).await?;
        made.netns = true;
        step(
            "enable forwarding in the namespace",
            cmd::ip(&[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ]),
        )
        .await?;
        // One `ip -batch` per namespace instead of a process per command;
        // `ip` stops at the first command that fails.
        made.veth = true;
        let host_side = [
            format!(
                "link add {} type veth peer name {NS_VETH} netns {ns}",
                a.host_veth
            ),
            format!("addr add {host_cidr} dev {}", a.host_veth),
            format!("link set {} up", a.host_veth),
        ];
        step(
            "create and address the veth pair",
            cmd::ip_batch(None, &host_side),
        )
        .await?;
        let mut ns_side = vec![
            "link set lo up".to_owned(),
            format!("addr add {ns_cidr} dev {NS_VETH}"),
            format!("link set {NS_VETH} up"),
            format!("route add default via {host_addr}"),
        ];
        let guest_side = [
            format!("addr add {gateway_cidr} dev {TAP_NAME}"),
            format!("link set {TAP_NAME} up"),
        ];
        let ns_step = "set up the namespace's links, addresses and route";
        match &self.config.guest_link {
            GuestLink::Tap => {
                ns_side.extend([
                    format!("tuntap add dev {TAP_NAME} mode tap"),
                    format!("link set {TAP_NAME} address {GATEWAY_MAC}"),
                ]);
                ns_side.extend(guest_side);
                step(ns_step, cmd::ip_batch(Some(ns), &ns_side)).await?;
            }
            GuestLink::VethInto { netns_prefix } => {
                step(ns_step, cmd::ip_batch(Some(ns), &ns_side)).await?;
                let netns = format!("{netns_prefix}{}", a.slot);
                let args = [
                    "-n",
                    ns,
                    "link",
                    "add",
                    TAP_NAME,
                    "address",
                    GATEWAY_MAC,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    &netns,
                ];
                step("create the test guest veth", cmd::ip(&args)).await?;
                step(
                    "address and bring up the test guest veth",
                    cmd::ip_batch(Some(ns), &guest_side),
                )
                .await?;
            }
        }
        step(
            "install namespace rules",
            cmd::nft_apply(Some(ns), &rules::namespace_table(a)),
        )
        .await?;
        let host_rules = rules::host_slot_add(a, self.config.host_range, &self.config.dns, policy);
        step("install host rules", cmd::nft_apply(None, &host_rules)).await?;
        made.host_rules = true;
        Ok(())
    }

    fn handle(&self, addrs: SlotAddrs) -> NetworkHandle {
        NetworkHandle {
            slot: addrs.slot,
            tap: TapAttachment {
                netns: addrs.netns.clone(),
                tap: TAP_NAME.to_owned(),
                guest_mac: GUEST_MAC.to_owned(),
                guest_ip: GUEST_IP,
                gateway_ip: GATEWAY_IP,
                prefix_len: GUEST_PREFIX_LEN,
                dns: self.config.dns.addrs().to_vec(),
            },
            envd_addr: addrs.envd_addr(),
            addrs,
        }
    }
}

async fn rollback(a: &SlotAddrs, made: &Made) {
    // Best effort: each failure is logged, and the slot's namespace removal
    // takes the TAP, the namespace veth end and the namespace table with it.
    if made.host_rules {
        if let Err(err) = cmd::nft_apply(None, &rules::host_slot_delete(a)).await {
            tracing::warn!(error = %err, slot = %a.slot, "rollback: host rules");
        }
    }
    if made.veth && link_exists(&a.host_veth) {
        if let Err(err) = cmd::ip(&["link", "del", &a.host_veth]).await {
            tracing::warn!(error = %err, slot = %a.slot, "rollback: host veth");
        }
    }
    if made.netns {
        if let Err(err) = cmd::ip(&["netns", "del", &a.netns]).await {
            tracing::warn!(error = %err, slot = %a.slot, "rollback: namespace");
        }
    }
}

async fn step<T>(
    step: &'static str,
    fut: impl std::future::Future<Output = Result<T, CommandError>>,
) -> Result<T, NetworkError> {
    fut.await
        .map_err(|source| NetworkError::Step { step, source })
}

async fn host_chain_exists(a: &SlotAddrs) -> bool {
    cmd::run(
        "nft",
        &["list", "chain", "inet", HOST_TABLE, &a.host_chain()],
        None,
    )
    .await
    .is_ok()
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}
