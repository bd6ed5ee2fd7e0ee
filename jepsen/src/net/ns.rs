//! Namespaces: one per node (`fpj-n1`..), one for clients (`fpj-ctl`) and one holding
//! the bridge (`fpj-br`). Each host namespace has one veth whose peer sits on the
//! bridge; addresses are 10.77.0.0/24 and exist only inside these namespaces. No
//! default route is added anywhere, so nothing can leave, and the root namespace is
//! never touched (the veth pairs are created inside the bridge namespace).

use super::{in_ns, sh};

/// Prefix of every namespace the harness creates; `cleanup` removes all of them.
pub const PREFIX: &str = "fpj-";
/// The bridge namespace.
pub const BRIDGE: &str = "fpj-br";
/// The clients' namespace.
pub const CONTROL: &str = "fpj-ctl";
/// The clients' address.
pub const CONTROL_IP: &str = "10.77.0.2";
/// Most nodes a run may have.
pub const MAX_NODES: usize = 5;

/// Node `slot`'s namespace (slots count from 1).
pub fn node_ns(slot: usize) -> String {
    format!("fpj-n{slot}")
}

/// Node `slot`'s address.
pub fn node_ip(slot: usize) -> String {
    format!("10.77.0.{}", 10 + slot)
}

fn exists(ns: &str) -> anyhow::Result<bool> {
    let list = sh("ip", &["netns", "list"])?;
    Ok(list.lines().any(|l| l.split_whitespace().next() == Some(ns)))
}

/// Creates the bridge, the control namespace and `nodes` node namespaces, reusing any
/// that already exist (idempotent).
pub fn setup(nodes: usize) -> anyhow::Result<()> {
    if !exists(BRIDGE)? {
        sh("ip", &["netns", "add", BRIDGE])?;
    }
    in_ns(BRIDGE, "ip", &["link", "set", "lo", "up"])?;
    if in_ns(BRIDGE, "ip", &["link", "show", "br0"]).is_err() {
        in_ns(BRIDGE, "ip", &["link", "add", "br0", "type", "bridge"])?;
    }
    in_ns(BRIDGE, "ip", &["link", "set", "br0", "up"])?;
    let mut hosts = vec![(CONTROL.to_string(), CONTROL_IP.to_string(), "vctl".to_string())];
    for slot in 1..=nodes.min(MAX_NODES) {
        hosts.push((node_ns(slot), node_ip(slot), format!("vn{slot}")));
    }
    for (ns, ip, peer) in hosts {
        if !exists(&ns)? {
            sh("ip", &["netns", "add", &ns])?;
        }
        in_ns(&ns, "ip", &["link", "set", "lo", "up"])?;
        if in_ns(&ns, "ip", &["link", "show", "eth0"]).is_err() {
            // A half-made pair from an interrupted run would block the add.
            let _ = in_ns(BRIDGE, "ip", &["link", "del", &peer]);
            in_ns(
                BRIDGE,
                "ip",
                &[
                    "link", "add", &peer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
        }
        in_ns(BRIDGE, "ip", &["link", "set", &peer, "master", "br0", "up"])?;
        let cidr = format!("{ip}/24");
        let addrs = in_ns(&ns, "ip", &["-o", "addr", "show", "dev", "eth0"])?;
        if !addrs.contains(&cidr) {
            in_ns(&ns, "ip", &["addr", "add", &cidr, "dev", "eth0"])?;
        }
        in_ns(&ns, "ip", &["link", "set", "eth0", "up"])?;
    }
    Ok(())
}

/// Removes every namespace the harness made (their veths go with them).
pub fn teardown() -> anyhow::Result<()> {
    let list = sh("ip", &["netns", "list"])?;
    for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if ns.starts_with(PREFIX) {
            sh("ip", &["netns", "del", ns])?;
        }
    }
    Ok(())
}

/// Whether this process runs inside the control namespace (the harness re-executes
/// itself there so that its clients' traffic starts from `CONTROL_IP`).
pub fn in_control() -> bool {
    std::env::var("FPJ_NETNS").as_deref() == Ok(CONTROL)
}
