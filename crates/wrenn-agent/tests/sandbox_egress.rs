//! Egress policy with real VMs: an "outside" namespace `wrnt-vext`, routed
//! from the host, stands for the internet (203.0.113.1 and .2, listening on
//! port 8080); a listener on the host stands for the agent's own port.
//! Needs root: `cargo test -p wrenn-agent --test sandbox_egress -- --ignored`.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code fails by panicking"
)]
use std::{collections::BTreeMap, process::Command, time::Duration};

use wrenn_agent::{
    envd_client::ExecRequest,
    sandbox::{EgressSpec, SandboxConfig, SandboxId, SandboxManager},
    vmm::qemu::QemuBackend,
};

const OUTSIDE_NS: &str = "wrnt-vext";
const HOST_SIDE: &str = "10.252.0.2";
const NS_SIDE: &str = "10.252.0.1";
const AGENT_PORT: u16 = 50999;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stand-in internet: two public-looking addresses with a listener each.
struct Outside(Vec<std::process::Child>);

impl Outside {
    fn start() -> Self {
        Self::stop_leftovers();
        ip(&["netns", "add", OUTSIDE_NS]);
        ip(&[
            "link", "add", "wrnt-vx0", "type", "veth", "peer", "name", "eth0", "netns", OUTSIDE_NS,
        ]);
        ip(&["addr", "add", &format!("{HOST_SIDE}/30"), "dev", "wrnt-vx0"]);
        ip(&["link", "set", "wrnt-vx0", "up"]);
        for cmd in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", &format!("{NS_SIDE}/30"), "dev", "eth0"],
            vec!["link", "set", "eth0", "up"],
            vec!["addr", "add", "203.0.113.1/32", "dev", "lo"],
            vec!["addr", "add", "203.0.113.2/32", "dev", "lo"],
            vec!["route", "add", "default", "via", HOST_SIDE],
        ] {
            ip(&[&["-n", OUTSIDE_NS][..], &cmd[..]].concat());
        }
        ip(&["route", "add", "203.0.113.0/24", "via", NS_SIDE]);
        let server = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',8080))\ns.listen(64)\nwhile True:\n c,_=s.accept()\n c.sendall(b'outside')\n c.close()\n";
        let outside = Command::new("ip")
            .args(["netns", "exec", OUTSIDE_NS, "python3", "-c", server])
            .spawn()
            .expect("listener");
        let agent = server.replace("8080", &AGENT_PORT.to_string());
        let host = Command::new("python3")
            .args(["-c", &agent])
            .spawn()
            .expect("host listener");
        std::thread::sleep(Duration::from_millis(500));
        Self(vec![outside, host])
    }

    fn stop_leftovers() {
        let _ = Command::new("ip")
            .args(["route", "del", "203.0.113.0/24"])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", "wrnt-vx0"])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", OUTSIDE_NS])
            .output();
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
        Self::stop_leftovers();
    }
}

mod common;

fn config(egress: EgressSpec) -> SandboxConfig {
    common::config(egress, BTreeMap::new())
}

/// Whether the guest can open a TCP connection to `addr:port` within 2 s.
async fn reaches(m: &SandboxManager<QemuBackend>, id: &SandboxId, addr: &str, port: u16) -> bool {
    let probe = format!(
        "python3 -c \"import socket; socket.create_connection(('{addr}', {port}), timeout=2)\" 2>/dev/null"
    );
    m.exec(id, ExecRequest::shell(probe))
        .await
        .expect("exec")
        .exit_code
        == 0
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn egress_when_policies_differ_then_each_sandbox_reaches_only_what_it_may() {
    let m = common::manager(Duration::from_secs(120)).await;
    let _outside = Outside::start();

    let open = m.create(config(EgressSpec::default())).await.expect("open");
    let closed = m
        .create(config(EgressSpec {
            internet: false,
            allow: vec![],
            deny: vec![],
        }))
        .await
        .expect("closed");
    let allow_one = EgressSpec {
        internet: false,
        allow: vec!["203.0.113.2/32".into()],
        deny: vec![],
    };
    let listed = m.create(config(allow_one)).await.expect("allow list");

    assert!(
        reaches(&m, &open.id, "203.0.113.1", 8080).await,
        "internet on reaches the outside"
    );
    assert!(
        !reaches(&m, &closed.id, "203.0.113.1", 8080).await,
        "internet off reaches nothing"
    );
    assert!(
        reaches(&m, &listed.id, "203.0.113.2", 8080).await,
        "the allowed address is reachable"
    );
    assert!(
        !reaches(&m, &listed.id, "203.0.113.1", 8080).await,
        "only the allowed address"
    );

    // Never another sandbox, never the host's services.
    let (closed_envd, _) = m.envd_endpoint(&closed.id).expect("running");
    let closed_addr = closed_envd
        .trim_start_matches("http://")
        .split(':')
        .next()
        .expect("ip")
        .to_owned();
    assert!(
        !reaches(&m, &open.id, &closed_addr, 49983).await,
        "no sandbox-to-sandbox traffic"
    );
    let (open_envd, _) = m.envd_endpoint(&open.id).expect("running");
    let open_addr: std::net::Ipv4Addr = open_envd
        .trim_start_matches("http://")
        .split(':')
        .next()
        .expect("ip")
        .parse()
        .expect("ip");
    let host_side = std::net::Ipv4Addr::from(u32::from(open_addr) - 1).to_string();
    assert!(
        !reaches(&m, &open.id, &host_side, AGENT_PORT).await,
        "no access to the host's own port"
    );
    assert!(
        !reaches(&m, &open.id, HOST_SIDE, AGENT_PORT).await,
        "no access to other host addresses"
    );

    m.destroy_all().await;
}

#[tokio::test]
#[ignore = "needs root, QEMU, the kernel and base image"]
async fn egress_update_when_running_then_denied_address_unreachable_at_once_and_after_resume() {
    let m = common::manager(Duration::from_secs(120)).await;
    let _outside = Outside::start();
    let sb = m.create(config(EgressSpec::default())).await.expect("open");
    assert!(
        reaches(&m, &sb.id, "203.0.113.1", 8080).await,
        "open at first"
    );

    let deny_one = EgressSpec {
        internet: true,
        allow: vec![],
        deny: vec!["203.0.113.1".into()],
    };
    m.update_egress(&sb.id, deny_one).await.expect("updated");

    assert!(
        !reaches(&m, &sb.id, "203.0.113.1", 8080).await,
        "the denied address is unreachable at once"
    );
    assert!(
        reaches(&m, &sb.id, "203.0.113.2", 8080).await,
        "the rest stays reachable"
    );
    m.pause(&sb.id).await.expect("paused");
    m.resume(&sb.id).await.expect("resumed");
    assert!(
        !reaches(&m, &sb.id, "203.0.113.1", 8080).await,
        "the new policy outlives a pause"
    );
    let bad = EgressSpec {
        internet: true,
        allow: vec!["not-a-cidr".into()],
        deny: vec![],
    };
    assert!(
        m.update_egress(&sb.id, bad).await.is_err(),
        "bad lists refused"
    );
    assert!(
        !reaches(&m, &sb.id, "203.0.113.1", 8080).await,
        "a refused update changes nothing"
    );

    m.destroy_all().await;
}
