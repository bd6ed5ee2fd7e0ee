//! ```text
//! CLUSTER INFO | MYID | SLOTS | SHARDS | NODES
//! ```
//! One shard owning slots 0-16383: the leader as master, the other voters as replicas,
//! so cluster-aware clients find the leader.

use openraft::async_runtime::watch::WatchReceiver;
use std::fmt::Write as _;

use bytes::Bytes;

use super::args::{self, arity};
use crate::context::ServerCtx;
use crate::raft::types::PeerNode;
use crate::reply::Reply;

/// Redis-style 40-hex-digit node id.
fn hex_id(id: u64) -> String {
    format!("{id:040x}")
}

/// (id, node, is_leader) for each voter, leader first. During an election the last
/// known leader stands in: that is where a client's retry most likely succeeds.
fn voters(ctx: &ServerCtx) -> Vec<(u64, PeerNode, bool)> {
    let leader = ctx.node.leader_or_last_known();
    let m = ctx.node.raft.metrics().borrow_watched().clone();
    let membership = m.membership_config.membership().clone();
    let mut v: Vec<(u64, PeerNode, bool)> = membership
        .voter_ids()
        .filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone(), Some(id) == leader)))
        .collect();
    v.sort_by_key(|(id, _, leader)| (!leader, *id));
    v
}

fn split_addr(addr: &str) -> (String, i64) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(0)),
        None => (addr.to_string(), 0),
    }
}

pub fn cluster(a: &[Bytes], ctx: &ServerCtx) -> Reply {
    let Some(sub) = a.first() else {
        return arity("cluster");
    };
    let nodes = voters(ctx);
    match args::keyword(sub).as_str() {
        "MYID" => Reply::text(&hex_id(ctx.node.id)),
        "INFO" => {
            let state = if nodes.iter().any(|n| n.2) { "ok" } else { "fail" };
            Reply::Verbatim(format!(
                "cluster_enabled:1\r\ncluster_state:{state}\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\ncluster_size:1\r\n",
                nodes.len()
            ))
        }
        "SLOTS" => {
            let mut entry = vec![Reply::Int(0), Reply::Int(16383)];
            for (id, n, _) in &nodes {
                let (host, port) = split_addr(&n.resp_addr);
                entry.push(Reply::Array(vec![
                    Reply::text(&host),
                    Reply::Int(port),
                    Reply::text(&hex_id(*id)),
                    Reply::Array(vec![]),
                ]));
            }
            Reply::Array(vec![Reply::Array(entry)])
        }
        "SHARDS" => {
            let node_maps = nodes
                .iter()
                .map(|(id, n, leader)| {
                    let (host, port) = split_addr(&n.resp_addr);
                    Reply::map(vec![
                        ("id", Reply::text(&hex_id(*id))),
                        ("port", Reply::Int(port)),
                        ("ip", Reply::text(&host)),
                        ("endpoint", Reply::text(&host)),
                        ("role", Reply::text(if *leader { "master" } else { "replica" })),
                        ("replication-offset", Reply::Int(0)),
                        ("health", Reply::text("online")),
                    ])
                })
                .collect();
            Reply::Array(vec![Reply::map(vec![
                ("slots", Reply::Array(vec![Reply::Int(0), Reply::Int(16383)])),
                ("nodes", Reply::Array(node_maps)),
            ])])
        }
        "NODES" => {
            let leader = nodes.iter().find(|n| n.2).map(|n| hex_id(n.0));
            let mut text = String::new();
            for (id, n, is_leader) in &nodes {
                let myself = if *id == ctx.node.id { "myself," } else { "" };
                let (role, master, slots) = if *is_leader {
                    ("master", "-".to_string(), " 0-16383")
                } else {
                    ("slave", leader.clone().unwrap_or_else(|| "-".into()), "")
                };
                let (host, port) = split_addr(&n.resp_addr);
                let _ = writeln!(
                    text,
                    "{} {host}:{port}@{} {myself}{role} {master} 0 0 1 connected{slots}",
                    hex_id(*id),
                    split_addr(&n.raft_addr).1
                );
            }
            Reply::Verbatim(text)
        }
        other => Reply::err(format!("ERR unknown subcommand '{other}' for 'cluster'")),
    }
}
