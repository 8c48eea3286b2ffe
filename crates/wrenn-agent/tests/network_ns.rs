//! Privileged tests of sandbox networks: real namespaces, veths and nftables.
//! A fake guest (namespace `wrnt-g<slot>` holding the other end of a veth in
//! place of the TAP) runs a listener on the envd port; an "outside" namespace
//! `wrnt-ext` routed from the host stands for the internet (203.0.113.1) and
//! for private networks (10.250.0.1, 10.251.0.1).
//! Run: `cargo test -p wrenn-agent --test network_ns -- --ignored`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{net::Ipv4Addr, process::Stdio, time::Duration};

use anyhow::{bail, Context, Result};
use tokio::{io::AsyncBufReadExt, process::Command};
use wrenn_agent::network::{
    cleanup_leftovers, EgressPolicy, GuestLink, NetnsPrefix, NetworkConfig, NetworkHandle,
    SandboxNetwork, Slot, SlotAllocator, ENVD_PORT,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const OUTSIDE_PORT: u16 = 8080;
const PUBLIC: &str = "203.0.113.1";
const PRIVATE_A: &str = "10.250.0.1";
const PRIVATE_B: &str = "10.251.0.1";
const HOST_OUTSIDE_ADDR: &str = "10.250.0.2";
const LISTEN_PY: &str = "import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',int(sys.argv[1])))\ns.listen(16)\nprint('ready',flush=True)\nwhile True:\n c,_=s.accept()\n c.close()\n";
const CONNECT_PY: &str =
    "import socket,sys\nsocket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1.5)\n";

/// Tests share the host table and sweep `wrn-*`, so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| program.to_owned())?;
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn ip(args: &[&str]) -> Result<String> {
    run("ip", args).await
}

/// Starts a TCP listener in `netns`; killed when the child is dropped.
async fn listen_in(netns: &str, port: u16) -> Result<tokio::process::Child> {
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "python3",
            "-c",
            LISTEN_PY,
            &port.to_string(),
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await??;
    anyhow::ensure!(line.trim() == "ready", "listener in {netns} did not start");
    Ok(child)
}

/// Whether a TCP connection from `netns` to `addr:port` succeeds.
async fn reaches(netns: &str, addr: &str, port: u16) -> Result<bool> {
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "python3",
            "-c",
            CONNECT_PY,
            addr,
            &port.to_string(),
        ])
        .stderr(Stdio::null())
        .status()
        .await?;
    Ok(status.success())
}

async fn host_reaches(addr: std::net::SocketAddrV4) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

fn guest_ns(slot: Slot) -> String {
    format!("wrnt-g{slot}")
}

fn network() -> SandboxNetwork {
    let config = NetworkConfig {
        max_slots: 32,
        guest_link: GuestLink::VethInto {
            netns_prefix: "wrnt-g".into(),
        },
        ..NetworkConfig::default()
    };
    SandboxNetwork::new(config).expect("config")
}

/// Creates the fake guest namespace, the slot's network, then configures the
/// guest end as the kernel `ip=` argument would.
async fn sandbox(net: &SandboxNetwork, slot: Slot, policy: &EgressPolicy) -> Result<NetworkHandle> {
    let g = guest_ns(slot);
    ip(&["netns", "add", &g]).await?;
    let handle = net.create(slot, policy).await?;
    let guest_cidr = format!("{}/{}", handle.tap.guest_ip, handle.tap.prefix_len);
    ip(&["-n", &g, "link", "set", "lo", "up"]).await?;
    ip(&["-n", &g, "addr", "add", &guest_cidr, "dev", "eth0"]).await?;
    ip(&["-n", &g, "link", "set", "eth0", "up"]).await?;
    ip(&[
        "-n",
        &g,
        "route",
        "add",
        "default",
        "via",
        &handle.tap.gateway_ip.to_string(),
    ])
    .await?;
    Ok(handle)
}

async fn outside() -> Result<tokio::process::Child> {
    ip(&["netns", "add", "wrnt-ext"]).await?;
    ip(&[
        "link", "add", "wrnt-x0", "type", "veth", "peer", "name", "eth0", "netns", "wrnt-ext",
    ])
    .await?;
    ip(&[
        "addr",
        "add",
        &format!("{HOST_OUTSIDE_ADDR}/30"),
        "dev",
        "wrnt-x0",
    ])
    .await?;
    ip(&["link", "set", "wrnt-x0", "up"]).await?;
    for cmd in [
        vec!["link", "set", "lo", "up"],
        vec!["addr", "add", "10.250.0.1/30", "dev", "eth0"],
        vec!["link", "set", "eth0", "up"],
        vec!["addr", "add", "203.0.113.1/32", "dev", "lo"],
        vec!["addr", "add", "10.251.0.1/32", "dev", "lo"],
        vec!["route", "add", "default", "via", HOST_OUTSIDE_ADDR],
    ] {
        ip(&[&["-n", "wrnt-ext"][..], &cmd[..]].concat()).await?;
    }
    ip(&["route", "add", "203.0.113.0/24", "via", PRIVATE_A]).await?;
    ip(&["route", "add", "10.251.0.0/24", "via", PRIVATE_A]).await?;
    listen_in("wrnt-ext", OUTSIDE_PORT).await
}

/// Removes everything the tests made, ours and theirs.
async fn teardown() {
    let _ = cleanup_leftovers(&NetnsPrefix::default()).await;
    let _ = ip(&["link", "del", "wrnt-x0"]).await;
    if let Ok(list) = ip(&["netns", "list"]).await {
        for ns in list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with("wrnt-"))
        {
            let _ = ip(&["netns", "del", ns]).await;
        }
    }
}

/// Runs `body` alone, bounded by [`TEST_TIMEOUT`], with a teardown before and
/// after (also after a failed assertion: the body runs as its own task).
async fn serial<F: std::future::Future<Output = Result<()>> + Send + 'static>(
    body: F,
) -> Result<()> {
    let _guard = SERIAL.lock().await;
    teardown().await;
    let result = tokio::time::timeout(TEST_TIMEOUT, tokio::spawn(body)).await;
    teardown().await;
    match result.context("test timed out")? {
        Ok(outcome) => outcome,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => Err(join.into()),
    }
}

fn slot(index: u32) -> Slot {
    // Leases are dropped at once: the tests pick fixed slots themselves.
    SlotAllocator::new(64).claim(index).expect("slot").slot()
}

#[tokio::test]
#[ignore = "needs root and network namespaces"]
async fn two_slots_when_created_then_host_reaches_envd_and_slots_are_isolated() -> Result<()> {
    serial(async {
        let net = network();
        net.init_host().await?;
        let _outside = outside().await?;
        let (a, b) = (
            sandbox(&net, slot(1), &EgressPolicy::default()).await?,
            sandbox(&net, slot(2), &EgressPolicy::default()).await?,
        );
        let _envd_a = listen_in(&guest_ns(a.slot), ENVD_PORT).await?;
        let _envd_b = listen_in(&guest_ns(b.slot), ENVD_PORT).await?;
        let agent = tokio::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        let agent_port = agent.local_addr()?.port();
        let ga = guest_ns(a.slot);

        assert!(host_reaches(a.envd_addr).await, "host → slot A envd");
        assert!(host_reaches(b.envd_addr).await, "host → slot B envd");
        assert!(
            host_reaches(std::net::SocketAddrV4::new(a.addrs.host_addr, agent_port)).await,
            "agent port listens"
        );
        assert!(
            reaches(&ga, PUBLIC, OUTSIDE_PORT).await?,
            "A → internet with internet on"
        );
        assert!(
            !reaches(&ga, PRIVATE_B, OUTSIDE_PORT).await?,
            "A → private range denied by default"
        );
        assert!(
            !reaches(&ga, &b.addrs.ns_addr.to_string(), ENVD_PORT).await?,
            "A → B envd"
        );
        assert!(
            !reaches(&ga, &a.addrs.host_addr.to_string(), agent_port).await?,
            "A → own host side"
        );
        assert!(
            !reaches(&ga, &b.addrs.host_addr.to_string(), agent_port).await?,
            "A → B host side"
        );
        assert!(
            !reaches(&ga, HOST_OUTSIDE_ADDR, agent_port).await?,
            "A → other host address"
        );
        assert!(
            !reaches(&ga, "169.254.0.22", agent_port).await?,
            "A → its gateway"
        );

        net.destroy(a.slot).await?;
        net.destroy(b.slot).await?;
        Ok(())
    })
    .await
}

#[tokio::test]
#[ignore = "needs root and network namespaces"]
async fn internet_off_when_allow_and_deny_then_only_allowed_not_denied_reachable() -> Result<()> {
    serial(async {
        let net = network();
        net.init_host().await?;
        let _outside = outside().await?;
        let closed = sandbox(
            &net,
            slot(3),
            &EgressPolicy::parse(false, &[] as &[&str], &[])?,
        )
        .await?;
        let allow = sandbox(
            &net,
            slot(4),
            &EgressPolicy::parse(false, &[PRIVATE_B], &[])?,
        )
        .await?;
        let deny_wins = sandbox(
            &net,
            slot(5),
            &EgressPolicy::parse(true, &["10.251.0.0/24", PUBLIC], &[PRIVATE_B, PUBLIC])?,
        )
        .await?;

        assert!(
            !reaches(&guest_ns(closed.slot), PUBLIC, OUTSIDE_PORT).await?,
            "internet off → public"
        );
        assert!(
            !reaches(&guest_ns(closed.slot), PRIVATE_B, OUTSIDE_PORT).await?,
            "internet off → private"
        );
        assert!(
            reaches(&guest_ns(allow.slot), PRIVATE_B, OUTSIDE_PORT).await?,
            "allowed address"
        );
        assert!(
            !reaches(&guest_ns(allow.slot), PUBLIC, OUTSIDE_PORT).await?,
            "not allowed public"
        );
        assert!(
            !reaches(&guest_ns(allow.slot), PRIVATE_A, OUTSIDE_PORT).await?,
            "not allowed private"
        );
        assert!(
            !reaches(&guest_ns(deny_wins.slot), PRIVATE_B, OUTSIDE_PORT).await?,
            "deny beats allow (private)"
        );
        assert!(
            !reaches(&guest_ns(deny_wins.slot), PUBLIC, OUTSIDE_PORT).await?,
            "deny beats internet and allow"
        );
        Ok(())
    })
    .await
}

async fn ours_left() -> Result<Vec<String>> {
    let mut left = Vec::new();
    for line in ip(&["netns", "list"])
        .await?
        .lines()
        .chain(ip(&["-o", "link", "show"]).await?.lines())
    {
        if line.split(": ").nth(1).unwrap_or(line).starts_with("wrn-") || line.starts_with("wrn-") {
            left.push(line.to_owned());
        }
    }
    for line in run("nft", &["list", "tables"]).await?.lines() {
        if line.ends_with(" wrenn") || line.contains(" wrn-") {
            left.push(line.to_owned());
        }
    }
    Ok(left)
}

#[tokio::test]
#[ignore = "needs root and network namespaces"]
async fn destroy_and_cleanup_when_done_then_nothing_of_ours_left() -> Result<()> {
    serial(async {
        let net = network();
        net.init_host().await?;
        let gone = sandbox(&net, slot(6), &EgressPolicy::default()).await?;
        net.destroy(gone.slot).await?;
        net.destroy(gone.slot).await?; // idempotent
        let chain = run("nft", &["list", "chain", "inet", "wrenn", "slot-6"]).await;
        assert!(chain.is_err(), "slot chain removed");
        let left = ours_left().await?;
        assert_eq!(
            left,
            vec!["table inet wrenn".to_owned()],
            "only the host table stays after destroy"
        );

        // A "crash": two live slots, then the start-up sweep.
        sandbox(&net, slot(7), &EgressPolicy::default()).await?;
        sandbox(&net, slot(8), &EgressPolicy::default()).await?;
        let report = cleanup_leftovers(&NetnsPrefix::default()).await?;
        let mut removed = report.namespaces.clone();
        removed.sort();
        assert_eq!(removed, vec!["wrn-7".to_owned(), "wrn-8".to_owned()]);
        let mut links = report.links.clone();
        links.sort();
        assert_eq!(links, vec!["wrn-v7".to_owned(), "wrn-v8".to_owned()]);
        assert!(report.tables.contains(&"inet wrenn".to_owned()));
        assert_eq!(ours_left().await?, Vec::<String>::new());
        Ok(())
    })
    .await
}

#[tokio::test]
#[ignore = "needs root and network namespaces"]
async fn create_when_step_fails_then_rolls_back_only_its_own_parts() -> Result<()> {
    serial(async {
        let net = network();
        net.init_host().await?;
        // No fake guest namespace: the guest link step fails late.
        let err = net
            .create(slot(10), &EgressPolicy::default())
            .await
            .expect_err("must fail");
        assert!(err.to_string().contains("test guest veth"), "{err}");
        assert_eq!(ours_left().await?, vec!["table inet wrenn".to_owned()]);

        // Someone else's namespace with our name: create fails, it stays.
        ip(&["netns", "add", "wrn-11"]).await?;
        ip(&["netns", "add", "wrnt-g11"]).await?;
        net.create(slot(11), &EgressPolicy::default())
            .await
            .expect_err("exists");
        assert!(ip(&["netns", "list"]).await?.contains("wrn-11"));
        Ok(())
    })
    .await
}
