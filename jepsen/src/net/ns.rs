//! Namespaces: one per node (`fpj-n1`..), one for clients (`fpj-ctl`) and one holding
//! the bridge (`fpj-br`). Each host namespace has one veth whose peer sits on the
//! bridge; addresses are 10.77.0.0/24 and exist only inside these namespaces. No
//! default route is added anywhere, so nothing can leave, and the root namespace is
//! never touched (the veth pairs are created inside the bridge namespace).
//!
//! `FPJ_INSTANCE=k` (1..=9) gives a run its own set, `fpj<k>-*` on 10.(77+k).0.0/24,
//! so that a long matrix and another run can share a host; unset, the names above.

use std::sync::OnceLock;

use super::{in_ns, sh};

/// Most nodes a run may have.
pub const MAX_NODES: usize = 5;

/// This run's instance (0: the default set).
fn instance() -> u8 {
    static K: OnceLock<u8> = OnceLock::new();
    *K.get_or_init(|| {
        std::env::var("FPJ_INSTANCE")
            .ok()
            .and_then(|v| v.parse::<u8>().ok())
            .filter(|k| *k <= 9)
            .unwrap_or(0)
    })
}

/// Prefix of every namespace this instance creates; `cleanup` removes all of them.
pub fn prefix() -> String {
    match instance() {
        0 => "fpj-".into(),
        k => format!("fpj{k}-"),
    }
}

/// The bridge namespace.
pub fn bridge() -> String {
    format!("{}br", prefix())
}

/// The clients' namespace.
pub fn control() -> String {
    format!("{}ctl", prefix())
}

/// This instance's /24, as `10.x.0.0/24`.
pub fn subnet() -> String {
    format!("10.{}.0.0/24", 77 + u16::from(instance()))
}

fn host_ip(host: usize) -> String {
    format!("10.{}.0.{host}", 77 + u16::from(instance()))
}

/// The clients' address.
pub fn control_ip() -> String {
    host_ip(2)
}

/// Node `slot`'s namespace (slots count from 1).
pub fn node_ns(slot: usize) -> String {
    format!("{}n{slot}", prefix())
}

/// Node `slot`'s address.
pub fn node_ip(slot: usize) -> String {
    host_ip(10 + slot)
}

fn exists(ns: &str) -> anyhow::Result<bool> {
    let list = sh("ip", &["netns", "list"])?;
    Ok(list.lines().any(|l| l.split_whitespace().next() == Some(ns)))
}

/// Creates the bridge, the control namespace and `nodes` node namespaces, reusing any
/// that already exist (idempotent).
pub fn setup(nodes: usize) -> anyhow::Result<()> {
    let bridge = bridge();
    let bridge = bridge.as_str();
    if !exists(bridge)? {
        sh("ip", &["netns", "add", bridge])?;
    }
    in_ns(bridge, "ip", &["link", "set", "lo", "up"])?;
    if in_ns(bridge, "ip", &["link", "show", "br0"]).is_err() {
        in_ns(bridge, "ip", &["link", "add", "br0", "type", "bridge"])?;
    }
    in_ns(bridge, "ip", &["link", "set", "br0", "up"])?;
    let mut hosts = vec![(control(), control_ip(), "vctl".to_string())];
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
            let _ = in_ns(bridge, "ip", &["link", "del", &peer]);
            in_ns(
                bridge,
                "ip",
                &[
                    "link", "add", &peer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
        }
        in_ns(bridge, "ip", &["link", "set", &peer, "master", "br0", "up"])?;
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
        if ns.starts_with(&prefix()) {
            sh("ip", &["netns", "del", ns])?;
        }
    }
    Ok(())
}

/// Whether this process runs inside the control namespace (the harness re-executes
/// itself there so that its clients' traffic starts from `control_ip()`).
pub fn in_control() -> bool {
    std::env::var("FPJ_NETNS").is_ok_and(|n| n == control())
}
