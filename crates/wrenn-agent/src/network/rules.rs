//! nftables rulesets as text, rendered from typed values only (addresses,
//! networks, slot numbers), so nothing user-supplied can inject syntax.
//!
//! Host table `inet wrenn`: traffic from any `wrn-v*` link never reaches the
//! host itself; forwarded traffic goes through the slot's own chain (found by
//! input interface in the `slot_policy` verdict map) and is dropped when no
//! slot claims the link; nothing may open a connection into a slot except the
//! host (output path); slot traffic leaving by a non-slot link is masqueraded.
//! Namespace table `inet wrn-<slot>`: DNAT of the envd address to the guest,
//! masquerade of guest traffic, and no access from the guest to the namespace.
use std::fmt::Write as _;

use ipnet::Ipv4Net;

use super::{
    plan::{SlotAddrs, GUEST_IP, HOST_TABLE, NAME_PREFIX, NS_VETH, TAP_NAME},
    policy::EgressPolicy,
    resolver::GuestDns,
};

/// Destinations denied unless `allow` lists them: private, shared, loopback,
/// "this network", multicast and reserved ranges.
pub const DEFAULT_DENIED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
];
/// Always denied: link-local, which holds cloud metadata services.
pub const LINK_LOCAL: &str = "169.254.0.0/16";

/// The host table; replaces any previous one atomically.
pub fn host_table(host_range: Ipv4Net) -> String {
    let slots = format!("\"{NAME_PREFIX}v*\"");
    format!(
        "add table inet {HOST_TABLE}
delete table inet {HOST_TABLE}
table inet {HOST_TABLE} {{
\tmap slot_policy {{
\t\ttype ifname : verdict
\t}}
\tchain input {{
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname {slots} ct state established,related accept
\t\tiifname {slots} drop
\t}}
\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname {slots} iifname vmap @slot_policy
\t\tiifname {slots} drop
\t\toifname {slots} ct state established,related accept
\t\toifname {slots} drop
\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr {range} oifname != {slots} masquerade
\t}}
}}
",
        range = host_range.trunc(),
    )
}

/// Adds the slot's policy chain and its verdict-map entry (fails when the
/// chain already exists, so another slot's rules are never appended to).
pub fn host_slot_add(
    addrs: &SlotAddrs,
    host_range: Ipv4Net,
    dns: &GuestDns,
    policy: &EgressPolicy,
) -> String {
    let chain = addrs.host_chain();
    let mut script = format!("create chain inet {HOST_TABLE} {chain}\n");
    script.push_str(&slot_rules(addrs, host_range, dns, policy));
    let _ = writeln!(
        script,
        "add element inet {HOST_TABLE} slot_policy {{ \"{}\" : jump {chain} }}",
        addrs.host_veth
    );
    script
}

/// Replaces the rules of the slot's existing chain with `policy`'s in one
/// transaction (a live egress update): no packet sees a half-written chain,
/// and established flows meet the new rules too.
pub fn host_slot_replace(
    addrs: &SlotAddrs,
    host_range: Ipv4Net,
    dns: &GuestDns,
    policy: &EgressPolicy,
) -> String {
    let mut script = format!("flush chain inet {HOST_TABLE} {}\n", addrs.host_chain());
    script.push_str(&slot_rules(addrs, host_range, dns, policy));
    script
}

/// The `add rule` lines of the slot's chain. With internet access the
/// guest's resolvers are reachable on port 53 (UDP and TCP) before the
/// private ranges are denied: the host's resolver is often a private
/// address. Only those addresses and that port; the sandbox's own deny
/// list still comes first.
fn slot_rules(
    addrs: &SlotAddrs,
    host_range: Ipv4Net,
    dns: &GuestDns,
    policy: &EgressPolicy,
) -> String {
    let chain = addrs.host_chain();
    let mut rules = vec![
        "meta nfproto ipv6 drop".to_owned(),
        format!("ip saddr != {} drop", addrs.ns_addr),
    ];
    if let Some(set) = set_of(&policy.deny) {
        rules.push(format!("ip daddr {set} drop"));
    }
    rules.push(format!("ip daddr {} drop", host_range.trunc()));
    rules.push(format!("ip daddr {LINK_LOCAL} drop"));
    if policy.internet {
        let resolvers: Vec<String> = dns.addrs().iter().map(ToString::to_string).collect();
        rules.push(format!(
            "ip daddr {{ {} }} meta l4proto {{ tcp, udp }} th dport 53 accept",
            resolvers.join(", ")
        ));
    }
    if let Some(set) = set_of(&policy.allow) {
        rules.push(format!("ip daddr {set} accept"));
    }
    rules.push(format!("ip daddr {{ {} }} drop", DEFAULT_DENIED.join(", ")));
    rules.push(if policy.internet { "accept" } else { "drop" }.to_owned());

    let mut script = String::new();
    for rule in rules {
        let _ = writeln!(script, "add rule inet {HOST_TABLE} {chain} {rule}");
    }
    script
}

/// Removes the slot's map entry and chain in one transaction.
pub fn host_slot_delete(addrs: &SlotAddrs) -> String {
    format!(
        "delete element inet {HOST_TABLE} slot_policy {{ \"{}\" }}\ndelete chain inet {HOST_TABLE} {}\n",
        addrs.host_veth,
        addrs.host_chain()
    )
}

/// The table inside the slot's namespace.
pub fn namespace_table(addrs: &SlotAddrs) -> String {
    format!(
        "table inet {table} {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname \"{NS_VETH}\" ip daddr {ns} dnat ip to {GUEST_IP}
\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname \"{NS_VETH}\" ip saddr {GUEST_IP} masquerade
\t}}
\tchain input {{
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname \"{TAP_NAME}\" ct state established,related accept
\t\tiifname \"{TAP_NAME}\" drop
\t}}
\tchain forward {{
\t\ttype filter hook forward priority filter; policy drop;
\t\tct state established,related accept
\t\tiifname \"{TAP_NAME}\" oifname \"{NS_VETH}\" ip saddr {GUEST_IP} accept
\t\tiifname \"{NS_VETH}\" oifname \"{TAP_NAME}\" ip daddr {GUEST_IP} ct status dnat accept
\t}}
}}
",
        table = addrs.netns,
        ns = addrs.ns_addr,
    )
}

fn set_of(nets: &[Ipv4Net]) -> Option<String> {
    (!nets.is_empty()).then(|| {
        let items: Vec<String> = nets.iter().map(|n| n.trunc().to_string()).collect();
        format!("{{ {} }}", items.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{NetworkConfig, SlotAllocator};

    fn slot_2() -> SlotAddrs {
        NetworkConfig::default().slot_addrs(SlotAllocator::new(4).claim(2).expect("slot").slot())
    }

    fn range() -> Ipv4Net {
        NetworkConfig::default().host_range
    }

    fn dns() -> GuestDns {
        "10.255.255.53".parse().expect("dns")
    }

    fn rule_lines(script: &str) -> Vec<&str> {
        script
            .lines()
            .filter_map(|l| l.strip_prefix("add rule inet wrenn slot-2 "))
            .collect()
    }

    #[test]
    fn host_slot_add_when_internet_off_with_lists_then_deny_before_allow_before_default() {
        let policy = EgressPolicy::parse(false, &["10.250.0.1/32", "8.8.8.8"], &["10.250.0.0/24"])
            .expect("policy");
        let script = host_slot_add(&slot_2(), range(), &dns(), &policy);
        assert_eq!(
            rule_lines(&script),
            vec![
                "meta nfproto ipv6 drop",
                "ip saddr != 10.200.0.5 drop",
                "ip daddr { 10.250.0.0/24 } drop",
                "ip daddr 10.200.0.0/16 drop",
                "ip daddr 169.254.0.0/16 drop",
                "ip daddr { 10.250.0.1/32, 8.8.8.8/32 } accept",
                "ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 198.18.0.0/15, 224.0.0.0/4, 240.0.0.0/4 } drop",
                "drop",
            ]
        );
        assert!(script.starts_with("create chain inet wrenn slot-2\n"));
        assert!(
            script.ends_with("add element inet wrenn slot_policy { \"wrn-v2\" : jump slot-2 }\n")
        );
    }

    #[test]
    fn host_slot_add_when_internet_on_no_lists_then_ends_accept_without_empty_sets() {
        let script = host_slot_add(&slot_2(), range(), &dns(), &EgressPolicy::default());
        let rules = rule_lines(&script);
        assert_eq!(rules.last(), Some(&"accept"));
        assert!(!script.contains("{  }"));
        assert_eq!(rules.len(), 7);
    }

    #[test]
    fn host_slot_add_when_internet_on_then_resolvers_on_port_53_before_private_drop() {
        let two: GuestDns = "10.255.255.53,192.168.0.1".parse().expect("dns");
        let policy = EgressPolicy::parse(true, &[] as &[&str], &["10.9.0.0/16"]).expect("policy");
        let rules = rule_lines_owned(&host_slot_add(&slot_2(), range(), &two, &policy));
        let resolver =
            "ip daddr { 10.255.255.53, 192.168.0.1 } meta l4proto { tcp, udp } th dport 53 accept";
        let at = |rule: &str| rules.iter().position(|r| r.starts_with(rule));
        let resolver_at = at(resolver).expect("resolver rule");
        assert!(at("ip daddr { 10.9.0.0/16 } drop").expect("deny") < resolver_at);
        assert!(resolver_at < at("ip daddr { 0.0.0.0/8, 10.0.0.0/8").expect("private drop"));
        assert_eq!(rules.iter().filter(|r| r.contains("dport 53")).count(), 1);
    }

    #[test]
    fn host_slot_add_when_internet_off_then_no_resolver_exception() {
        let policy = EgressPolicy::parse(false, &["8.8.8.8"], &[] as &[&str]).expect("policy");
        let script = host_slot_add(&slot_2(), range(), &dns(), &policy);
        assert!(!script.contains("dport 53"), "{script}");
        assert!(!script.contains("10.255.255.53"), "{script}");
    }

    fn rule_lines_owned(script: &str) -> Vec<String> {
        rule_lines(script).into_iter().map(str::to_owned).collect()
    }

    #[test]
    fn host_slot_replace_when_policy_changes_then_flush_and_same_rules_as_add() {
        let policy = EgressPolicy::parse(true, &[] as &[&str], &["8.8.8.8"]).expect("policy");
        let script = host_slot_replace(&slot_2(), range(), &dns(), &policy);
        assert!(
            script.starts_with("flush chain inet wrenn slot-2\n"),
            "{script}"
        );
        assert_eq!(
            rule_lines(&script),
            rule_lines(&host_slot_add(&slot_2(), range(), &dns(), &policy))
        );
        assert!(rule_lines(&script).contains(&"ip daddr { 8.8.8.8/32 } drop"));
        assert!(!script.contains("create chain") && !script.contains("add element"));
    }

    #[test]
    fn host_slot_delete_then_element_and_chain() {
        assert_eq!(
            host_slot_delete(&slot_2()),
            "delete element inet wrenn slot_policy { \"wrn-v2\" }\ndelete chain inet wrenn slot-2\n"
        );
    }

    #[test]
    fn host_table_then_blocks_host_input_and_masquerades_range() {
        let table = host_table(range());
        assert!(table.contains("iifname \"wrn-v*\" drop"));
        assert!(table.contains("iifname \"wrn-v*\" iifname vmap @slot_policy"));
        assert!(table.contains("ip saddr 10.200.0.0/16 oifname != \"wrn-v*\" masquerade"));
    }

    #[test]
    fn namespace_table_then_dnat_envd_address_to_guest() {
        let table = namespace_table(&slot_2());
        assert!(table.starts_with("table inet wrn-2 {"));
        assert!(table.contains("iifname \"veth0\" ip daddr 10.200.0.5 dnat ip to 169.254.0.21"));
        assert!(table.contains("oifname \"veth0\" ip saddr 169.254.0.21 masquerade"));
    }
}
