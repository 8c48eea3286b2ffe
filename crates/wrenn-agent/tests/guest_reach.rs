//! Sandboxes reach what the host reaches, with real VMs: the guest uses
//! the host's resolver (a private address here, let through the egress
//! policy on port 53 only) and trusts the operator's CA certificates, so
//! `https://pypi.org` and `pip download` work behind the host's
//! TLS-inspecting proxy. Needs root and the registries this machine
//! reaches: `cargo test -p wrenn-agent --test guest_reach -- --ignored`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, process::Command, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    guest_ca::GuestCa,
    network::{GuestDns, NetworkConfig},
    paths::{DataDir, KernelFormat},
    sandbox::{EgressSpec, Limits, ManagerOptions, SandboxManager},
    vmm::{accel, confine::Confinement, qemu::QemuBackend},
};

mod common;

/// The host's extra CAs (its inspecting proxy's among them), as one bundle.
fn host_extra_cas() -> GuestCa {
    let dir = std::path::Path::new("/usr/local/share/ca-certificates");
    let mut bundle = String::new();
    for entry in std::fs::read_dir(dir).expect("host CA directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "crt") {
            bundle.push_str(&std::fs::read_to_string(&path).expect("CA file"));
            bundle.push('\n');
        }
    }
    let file = std::env::temp_dir().join(format!("wrenn-guest-ca-{}.pem", std::process::id()));
    std::fs::write(&file, bundle).expect("bundle");
    GuestCa::from_file(&file).expect("the host's CA files are valid PEM")
}

async fn manager(dns: GuestDns) -> SandboxManager<QemuBackend> {
    let accel = accel::decide(Default::default(), accel::HostKvm::probe()).accel;
    let opts = ManagerOptions {
        data: DataDir::from_env(),
        network: NetworkConfig {
            dns,
            ..NetworkConfig::default()
        },
        limits: Limits {
            max_vcpus: 2,
            max_memory_mib: 4096,
            max_disk_mib: 16384,
        },
        ready_timeout: Duration::from_secs(120),
        kernel_format: KernelFormat::BzImage,
        guest_ca: Some(host_extra_cas()),
    };
    let confinement = Confinement::default_on().expect("VM confinement");
    let manager = SandboxManager::new(QemuBackend::new(accel, confinement), opts).expect("manager");
    manager.start().await.expect("start-up");
    manager
}

fn shell(command: &str) -> ExecRequest {
    let mut request = ExecRequest::shell(command);
    request.timeout = Duration::from_secs(180);
    request
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image, and the host's registries"]
async fn guest_when_internet_then_resolves_and_fetches_pypi_through_the_host_proxy() {
    let dns = GuestDns::resolve(None).expect("host resolvers");
    let m = manager(dns.clone()).await;
    let id = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("create")
        .id;

    let resolv = m
        .exec(&id, shell("cat /etc/resolv.conf"))
        .await
        .expect("exec");
    let first = dns.addrs()[0].to_string();
    assert!(
        String::from_utf8_lossy(&resolv.stdout).contains(&format!("nameserver {first}")),
        "guest resolv.conf: {}",
        String::from_utf8_lossy(&resolv.stdout)
    );
    let lookup = m
        .exec(&id, shell("getent hosts pypi.org"))
        .await
        .expect("exec");
    assert_eq!(lookup.exit_code, 0, "getent: {lookup:?}");

    let fetch = m
        .exec(
            &id,
            shell("curl -sS -o /dev/null -w '%{http_code}' https://pypi.org/simple/six/"),
        )
        .await
        .expect("exec");
    assert_eq!(
        String::from_utf8_lossy(&fetch.stdout),
        "200",
        "curl: {}",
        String::from_utf8_lossy(&fetch.stderr)
    );
    let python = m
        .exec(
            &id,
            shell("python3 -c \"import urllib.request as u; print(u.urlopen('https://pypi.org/simple/six/').status)\""),
        )
        .await
        .expect("exec");
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        "200",
        "{python:?}"
    );

    let pip = m
        .exec(
            &id,
            shell("pip download --no-deps -q -d /tmp/dl six && ls /tmp/dl"),
        )
        .await
        .expect("exec");
    assert_eq!(
        pip.exit_code,
        0,
        "pip: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    assert!(
        String::from_utf8_lossy(&pip.stdout).contains("six-"),
        "{pip:?}"
    );
    let env = m
        .exec(&id, shell("echo $REQUESTS_CA_BUNDLE $NODE_EXTRA_CA_CERTS"))
        .await
        .expect("exec");
    assert_eq!(
        String::from_utf8_lossy(&env.stdout).trim(),
        "/etc/ssl/certs/ca-certificates.crt /usr/local/share/ca-certificates/wrenn-operator.crt"
    );
    m.destroy(&id).await.expect("destroy");
}

const OTHER_NS: &str = "wrnt-vdns";
const OTHER_HOST_SIDE: &str = "10.253.0.2";
const OTHER_ADDR: &str = "10.253.0.1";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private address with a listener on TCP port 53, routed from the host.
struct OtherPrivate(std::process::Child);

impl OtherPrivate {
    fn start() -> Self {
        Self::remove();
        ip(&["netns", "add", OTHER_NS]);
        ip(&[
            "link", "add", "wrnt-vd0", "type", "veth", "peer", "name", "eth0", "netns", OTHER_NS,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{OTHER_HOST_SIDE}/30"),
            "dev",
            "wrnt-vd0",
        ]);
        ip(&["link", "set", "wrnt-vd0", "up"]);
        ip(&[
            "-n",
            OTHER_NS,
            "addr",
            "add",
            &format!("{OTHER_ADDR}/30"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", OTHER_NS, "link", "set", "eth0", "up"]);
        ip(&["-n", OTHER_NS, "link", "set", "lo", "up"]);
        let server = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',53))\ns.listen(64)\nwhile True:\n c,_=s.accept()\n c.sendall(b'x')\n c.close()\n";
        let child = Command::new("ip")
            .args(["netns", "exec", OTHER_NS, "python3", "-c", server])
            .spawn()
            .expect("listener");
        std::thread::sleep(Duration::from_millis(500));
        Self(child)
    }

    fn remove() {
        let _ = Command::new("ip")
            .args(["link", "del", "wrnt-vd0"])
            .output();
        let _ = Command::new("ip").args(["netns", "del", OTHER_NS]).output();
    }
}

impl Drop for OtherPrivate {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        Self::remove();
    }
}

fn tcp_probe(addr: &str, port: u16) -> String {
    format!("python3 -c \"import socket; socket.create_connection(('{addr}', {port}), timeout=3)\"")
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn resolver_exception_when_other_private_address_then_still_unreachable() {
    let other = OtherPrivate::start();
    let host_reaches = std::net::TcpStream::connect_timeout(
        &format!("{OTHER_ADDR}:53").parse().expect("addr"),
        Duration::from_secs(3),
    );
    assert!(
        host_reaches.is_ok(),
        "the host reaches the other private listener"
    );
    let dns = GuestDns::resolve(None).expect("host resolvers");
    let m = manager(dns.clone()).await;
    let id = m
        .create(common::config(EgressSpec::default(), BTreeMap::new()))
        .await
        .expect("create")
        .id;

    let other_53 = m
        .exec(&id, shell(&tcp_probe(OTHER_ADDR, 53)))
        .await
        .expect("exec");
    assert_ne!(
        other_53.exit_code, 0,
        "another 10.x address stays denied on port 53"
    );
    let resolver = dns.addrs()[0].to_string();
    let resolver_443 = m
        .exec(&id, shell(&tcp_probe(&resolver, 443)))
        .await
        .expect("exec");
    assert_ne!(
        resolver_443.exit_code, 0,
        "the resolver is open on port 53 only"
    );
    let resolver_53 = m
        .exec(&id, shell(&tcp_probe(&resolver, 53)))
        .await
        .expect("exec");
    assert_eq!(
        resolver_53.exit_code, 0,
        "the resolver on TCP 53: {resolver_53:?}"
    );
    m.destroy(&id).await.expect("destroy");
    drop(other);
}
