//! Start-up sweep: removes every link and nftables table named `wrn-*` (and
//! the host table `inet wrenn`) in the agent's network namespace, and every
//! sandbox namespace `<prefix><slot>` of this agent's [`NetnsPrefix`], left
//! by a previous agent. Other agents' namespaces are left alone.
use super::{
    cmd,
    plan::{NetnsPrefix, HOST_TABLE, NAME_PREFIX},
    sandbox::NetworkError,
};

/// What [`cleanup_leftovers`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    pub namespaces: Vec<String>,
    pub links: Vec<String>,
    /// `family name` of each table.
    pub tables: Vec<String>,
}

impl CleanupReport {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.links.is_empty() && self.tables.is_empty()
    }
}

/// Removes all leftovers; logs each removal. Sandbox networks of this agent
/// are lost, so call it only before any are created.
pub async fn cleanup_leftovers(netns_prefix: &NetnsPrefix) -> Result<CleanupReport, NetworkError> {
    let mut report = CleanupReport::default();
    let tables = list("list nftables tables", "nft", &["list", "tables"]).await?;
    for (family, name) in tables.lines().filter_map(parse_table_line) {
        if name == HOST_TABLE || name.starts_with(NAME_PREFIX) {
            remove(
                "delete a leftover table",
                "nft",
                &["delete", "table", family, name],
            )
            .await?;
            tracing::info!(table = %name, family = %family, "removed leftover nftables table");
            report.tables.push(format!("{family} {name}"));
        }
    }
    // Links first: deleting a host veth removes its peer at once, whereas a
    // deleted namespace frees its devices later, in the background.
    let links = list("list links", "ip", &["-o", "link", "show"]).await?;
    for link in links.lines().filter_map(parse_link_line) {
        if link.starts_with(NAME_PREFIX) {
            let removed = remove("delete a leftover link", "ip", &["link", "del", link]).await;
            // A link that vanished meanwhile (its peer's namespace went) is fine.
            if let Err(err) = removed {
                if std::path::Path::new("/sys/class/net").join(link).exists() {
                    return Err(err);
                }
            }
            tracing::info!(link = %link, "removed leftover link");
            report.links.push(link.to_owned());
        }
    }
    let namespaces = list("list namespaces", "ip", &["netns", "list"]).await?;
    for ns in namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        if netns_prefix.owns(ns) {
            remove("delete a leftover namespace", "ip", &["netns", "del", ns]).await?;
            tracing::info!(netns = %ns, "removed leftover network namespace");
            report.namespaces.push(ns.to_owned());
        }
    }
    if report.is_empty() {
        tracing::info!("no sandbox network leftovers found");
    }
    Ok(report)
}

async fn list(step: &'static str, program: &str, args: &[&str]) -> Result<String, NetworkError> {
    cmd::run(program, args, None)
        .await
        .map_err(|source| NetworkError::Step { step, source })
}

async fn remove(step: &'static str, program: &str, args: &[&str]) -> Result<(), NetworkError> {
    list(step, program, args).await.map(drop)
}

/// `table inet wrenn` → `("inet", "wrenn")`.
fn parse_table_line(line: &str) -> Option<(&str, &str)> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("table"), Some(family), Some(name)) => Some((family, name)),
        _ => None,
    }
}

/// `7: wrn-v3@if2: <BROADCAST,...` → `wrn-v3`.
fn parse_link_line(line: &str) -> Option<&str> {
    let name = line.split(": ").nth(1)?;
    Some(name.split('@').next().unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_link_line_when_veth_then_name_without_peer() {
        let line = "7: wrn-v3@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue";
        assert_eq!(parse_link_line(line), Some("wrn-v3"));
        assert_eq!(
            parse_link_line("1: lo: <LOOPBACK,UP> mtu 65536"),
            Some("lo")
        );
    }

    #[test]
    fn parse_table_line_when_table_then_family_and_name() {
        assert_eq!(
            parse_table_line("table inet wrenn"),
            Some(("inet", "wrenn"))
        );
        assert_eq!(parse_table_line("garbage"), None);
    }
}
