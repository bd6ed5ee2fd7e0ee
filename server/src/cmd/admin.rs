//! ```text
//! RAFT INFO                          -> map (RESP3) / flat array (RESP2)
//! RAFT SNAPSHOT                      -> +OK (a snapshot is being built)
//! RAFT ADD <id> <raft-addr> <resp-addr> | RAFT REMOVE <id> | RAFT TRANSFER <id>
//! ```

use openraft::async_runtime::watch::WatchReceiver;
use std::sync::Arc;

use bytes::Bytes;
use openraft::ServerState;

use super::args::{self, arity};
use super::Dispatched;
use crate::node::Node;
use crate::peer::wire::AdminOp;
use crate::raft::types::PeerNode;
use crate::reply::Reply;
use crate::server::ServerCtx;

pub fn dispatch(a: &[Bytes], ctx: &Arc<ServerCtx>) -> Dispatched {
    let Some(sub) = a.first() else {
        return Dispatched::Now(arity("raft"));
    };
    let node = ctx.node.clone();
    match args::keyword(sub).as_str() {
        "INFO" if a.len() == 1 => Dispatched::Now(info(&node)),
        "SNAPSHOT" if a.len() == 1 => Dispatched::later(async move {
            match node.raft.trigger().snapshot().await {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::err(format!("ERR {e}")),
            }
        }),
        "INFO" | "SNAPSHOT" => Dispatched::Now(arity(&format!("raft|{}", args::show(sub).to_lowercase()))),
        "ADD" => match &a[1..] {
            [id, raft_addr, resp_addr] => match args::uint(id) {
                Ok(id) => {
                    let node_info = PeerNode {
                        raft_addr: args::show(raft_addr),
                        resp_addr: args::show(resp_addr),
                    };
                    admin_reply(async move { node.admin(AdminOp::Add { id, node: node_info }).await })
                }
                Err(e) => Dispatched::Now(e),
            },
            _ => Dispatched::Now(arity("raft|add")),
        },
        "REMOVE" => match &a[1..] {
            [id] => match args::uint(id) {
                Ok(id) => admin_reply(async move { node.admin(AdminOp::Remove { id }).await }),
                Err(e) => Dispatched::Now(e),
            },
            _ => Dispatched::Now(arity("raft|remove")),
        },
        "TRANSFER" => match &a[1..] {
            [id] => match args::uint(id) {
                Ok(id) => admin_reply(async move { node.transfer_to(id).await }),
                Err(e) => Dispatched::Now(e),
            },
            _ => Dispatched::Now(arity("raft|transfer")),
        },
        _ => Dispatched::Now(Reply::err(format!(
            "ERR unknown subcommand '{}' for 'raft'",
            args::show(sub)
        ))),
    }
}

/// +OK, or the error text (which starts with its code).
fn admin_reply(f: impl std::future::Future<Output = Result<String, String>> + Send + 'static) -> Dispatched {
    Dispatched::later(async move {
        match f.await {
            Ok(what) => {
                tracing::info!(what = %what, "membership change");
                Reply::ok()
            }
            Err(e) => Reply::err(e),
        }
    })
}

/// Role as SPEC.md names it.
pub fn role_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

fn info(node: &Node) -> Reply {
    let m = node.raft.metrics().borrow_watched().clone();
    let membership = m.membership_config.membership().clone();
    let leader_addr = m
        .current_leader
        .and_then(|l| membership.get_node(&l).map(|n| Reply::text(&n.resp_addr)))
        .unwrap_or(Reply::Nil);
    let ids = |v: Vec<u64>| Reply::Array(v.into_iter().map(|i| Reply::Int(i as i64)).collect());
    let voters: Vec<u64> = membership.voter_ids().collect();
    let learners: Vec<u64> = membership.learner_ids().collect();
    let idx = |o: Option<u64>| o.map(|i| Reply::Int(i as i64)).unwrap_or(Reply::Int(0));
    Reply::map(vec![
        ("node-id", Reply::Int(m.id as i64)),
        ("role", Reply::text(role_name(m.state))),
        ("term", Reply::Int(m.current_term as i64)),
        (
            "leader-id",
            m.current_leader.map(|l| Reply::Int(l as i64)).unwrap_or(Reply::Nil),
        ),
        ("leader-addr", leader_addr),
        ("commit-index", Reply::Int(node.committed_index() as i64)),
        ("applied-index", idx(m.last_applied.map(|l| l.index))),
        ("last-log-index", idx(m.last_log_index)),
        ("snapshot-index", idx(m.snapshot.map(|l| l.index))),
        ("purged-index", idx(m.purged.map(|l| l.index))),
        ("voters", ids(voters)),
        ("learners", ids(learners)),
    ])
}
