//! etcd as an `n`-member cluster on loopback, each member with its own ports and data dir.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

use super::{free_port, loopback, wait_for, Proc, TargetOpts};
use crate::etcd::Etcd;

/// Starts `n` members and returns the leader's client address once every member agrees on it.
pub async fn start(n: usize, opts: &TargetOpts, dir: &Path, procs: &mut Vec<Proc>) -> Result<SocketAddr> {
    let ports: Vec<(u16, u16)> = (0..n)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<Result<_>>()?;
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("m{}=http://127.0.0.1:{peer}", i + 1))
        .collect();
    for (i, &(client, peer)) in ports.iter().enumerate() {
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut c = Command::new(&opts.etcd_bin);
        c.args(["--name", &format!("m{}", i + 1)]);
        c.arg("--data-dir").arg(dir.join(format!("m{}", i + 1)));
        c.args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ]);
        c.args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ]);
        c.args(["--initial-cluster", &cluster.join(",")]);
        c.args([
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            "fencepost-bench",
        ]);
        // Info logging costs CPU that the servers under test share; warnings still show up in the log.
        c.args(["--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]);
        let log = dir.join(format!("m{}.log", i + 1));
        procs.push(Proc::spawn(&format!("member-{}", i + 1), loopback(client), c, log)?);
    }
    let addrs: Vec<SocketAddr> = procs.iter().map(|p| p.addr).collect();
    let leader = wait_for(procs, Duration::from_secs(30), "an etcd leader", || {
        let addrs = addrs.clone();
        async move { leader_of(&addrs).await }
    })
    .await?;
    if !addrs.contains(&leader) {
        bail!("etcd leader {leader} is none of {addrs:?}");
    }
    Ok(leader)
}

/// The leader's client address, when every member answers and names the same leader.
pub async fn leader_of(addrs: &[SocketAddr]) -> Option<SocketAddr> {
    let mut leader_id = None;
    let mut leader_addr = None;
    for &a in addrs {
        let mut c = Etcd::connect(a).await.ok()?;
        let (me, leader) = c.status().await.ok()?;
        if leader == 0 || leader_id.is_some_and(|l| l != leader) {
            return None;
        }
        leader_id = Some(leader);
        if me == leader {
            leader_addr = Some(a);
        }
    }
    leader_addr
}
