//! The resolvers guests use: `AGENT_GUEST_DNS` when set, else the host's
//! own (the nameservers of `/etc/resolv.conf`, then of systemd-resolved's
//! upstream file when the first lists only loopback addresses), else
//! `1.1.1.1`. The guest gets them in the kernel `ip=` argument, and the
//! sandbox's egress rules let it reach exactly them on port 53 even where
//! private ranges are denied (see `rules`).
use std::{fmt, net::Ipv4Addr, str::FromStr};

/// The kernel `ip=` argument carries two resolvers at most.
pub const MAX_GUEST_RESOLVERS: usize = 2;
/// The host files read, in order, when `AGENT_GUEST_DNS` is not set.
pub const HOST_RESOLV_FILES: &[&str] = &["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"];
const FALLBACK: Ipv4Addr = Ipv4Addr::new(1, 1, 1, 1);

/// One to [`MAX_GUEST_RESOLVERS`] IPv4 resolvers, none of them loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestDns(Vec<Ipv4Addr>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuestDnsError {
    #[error("'{0}' is not an IPv4 address")]
    NotIpv4(String),
    #[error("{0} is a loopback address, which the guest cannot reach")]
    Loopback(Ipv4Addr),
    #[error("no resolver given")]
    Empty,
    #[error("at most {MAX_GUEST_RESOLVERS} resolvers fit the kernel ip= argument, {0} given")]
    TooMany(usize),
}

impl Default for GuestDns {
    fn default() -> Self {
        Self(vec![FALLBACK])
    }
}

impl GuestDns {
    pub fn addrs(&self) -> &[Ipv4Addr] {
        &self.0
    }

    /// The host's resolvers from the text of its resolv.conf files, tried
    /// in order: the first file naming a usable IPv4 nameserver wins
    /// (loopback stubs such as systemd-resolved's 127.0.0.53 are skipped).
    pub fn from_host_files<'a>(files: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        files.into_iter().find_map(|text| {
            let found: Vec<Ipv4Addr> = nameservers(text)
                .filter(|addr| !addr.is_loopback() && !addr.is_unspecified())
                .take(MAX_GUEST_RESOLVERS)
                .collect();
            (!found.is_empty()).then_some(Self(found))
        })
    }

    /// `AGENT_GUEST_DNS` if given, else the host's files, else `1.1.1.1`.
    pub fn resolve(configured: Option<&str>) -> Result<Self, GuestDnsError> {
        if let Some(raw) = configured {
            return raw.parse();
        }
        let texts: Vec<String> = HOST_RESOLV_FILES
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect();
        Ok(Self::from_host_files(texts.iter().map(String::as_str)).unwrap_or_default())
    }
}

fn nameservers(text: &str) -> impl Iterator<Item = Ipv4Addr> + '_ {
    text.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "nameserver")
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// A comma-separated list, as in `AGENT_GUEST_DNS=10.0.0.53,1.1.1.1`.
impl FromStr for GuestDns {
    type Err = GuestDnsError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut addrs = Vec::new();
        for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let addr: Ipv4Addr = word
                .parse()
                .map_err(|_| GuestDnsError::NotIpv4(word.to_owned()))?;
            if addr.is_loopback() {
                return Err(GuestDnsError::Loopback(addr));
            }
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        match addrs.len() {
            0 => Err(GuestDnsError::Empty),
            n if n > MAX_GUEST_RESOLVERS => Err(GuestDnsError::TooMany(n)),
            _ => Ok(Self(addrs)),
        }
    }
}

impl fmt::Display for GuestDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self.0.iter().map(Ipv4Addr::to_string).collect();
        f.write_str(&words.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().expect("ip")
    }

    #[test]
    fn parse_when_comma_list_then_both_in_order() {
        let dns: GuestDns = " 10.255.255.53, 9.9.9.9 ".parse().expect("valid");
        assert_eq!(dns.addrs(), &[ip("10.255.255.53"), ip("9.9.9.9")]);
    }

    #[test]
    fn parse_when_loopback_or_garbage_or_empty_then_error() {
        assert_eq!(
            "127.0.0.53".parse::<GuestDns>(),
            Err(GuestDnsError::Loopback(ip("127.0.0.53")))
        );
        assert!(matches!(
            "resolver.local".parse::<GuestDns>(),
            Err(GuestDnsError::NotIpv4(_))
        ));
        assert_eq!(" , ".parse::<GuestDns>(), Err(GuestDnsError::Empty));
        assert_eq!(
            "1.1.1.1,8.8.8.8,9.9.9.9".parse::<GuestDns>(),
            Err(GuestDnsError::TooMany(3))
        );
    }

    #[test]
    fn host_files_when_first_names_a_resolver_then_it() {
        let dns = GuestDns::from_host_files(["# generated\nnameserver 10.255.255.53\nsearch x\n"]);
        assert_eq!(dns, Some(GuestDns(vec![ip("10.255.255.53")])));
    }

    #[test]
    fn host_files_when_only_loopback_stub_then_next_file() {
        let stub = "nameserver 127.0.0.53\noptions edns0\n";
        let upstream = "nameserver 192.168.1.1\nnameserver fe80::1\nnameserver 192.168.1.2\n";
        let dns = GuestDns::from_host_files([stub, upstream]);
        assert_eq!(
            dns,
            Some(GuestDns(vec![ip("192.168.1.1"), ip("192.168.1.2")]))
        );
    }

    #[test]
    fn host_files_when_nothing_usable_then_none_and_default_is_fallback() {
        assert_eq!(GuestDns::from_host_files(["nameserver ::1\n", ""]), None);
        assert_eq!(GuestDns::default().addrs(), &[FALLBACK]);
    }
}
