//! ```text
//! RAFT INFO                          -> map (RESP3) / flat array (RESP2)
//! RAFT SNAPSHOT                      -> +OK (a snapshot is being built)
//! RAFT ADD <id> <raft-addr> <resp-addr> | RAFT REMOVE <id> | RAFT TRANSFER <id>
//! RAFT STATEHASH                     -> {applied-index, state-hash} of this node's
//!                                       state machine (local, not linearizable)
//! RAFT BACKUP                        -> $<backup file> of the state at a linearizable
//!                                       point (see `backup/`)
//! ```
//! STATEHASH lets tests check that replicas agree bit for bit: equal applied indexes
//! must give equal hashes (the hash is the SHA-1 of the snapshot encoding).

use openraft::async_runtime::watch::WatchReceiver;
use std::sync::Arc;

use bytes::Bytes;
use openraft::ServerState;

use super::args::{self, arity};
use super::{Command, Dispatched, Limits};
use crate::context::ServerCtx;
use crate::node::Node;
use crate::peer::wire::AdminOp;
use crate::raft::types::PeerNode;
use crate::reply::Reply;

/// A RAFT subcommand.
#[derive(Debug)]
pub enum RaftCmd {
    Info,
    Snapshot,
    StateHash,
    Add { id: u64, node: PeerNode },
    Remove { id: u64 },
    Transfer { id: u64 },
    Backup,
}

pub fn parse(a: &[Bytes], _: &Limits) -> Result<Command, Reply> {
    let Some(sub) = a.first() else {
        return Err(arity("raft"));
    };
    let rest = &a[1..];
    let cmd = match (args::keyword(sub).as_str(), rest) {
        ("INFO", []) => RaftCmd::Info,
        ("SNAPSHOT", []) => RaftCmd::Snapshot,
        ("STATEHASH", []) => RaftCmd::StateHash,
        ("BACKUP", []) => RaftCmd::Backup,
        ("INFO" | "SNAPSHOT" | "STATEHASH" | "BACKUP", _) => {
            return Err(arity(&format!("raft|{}", args::show(sub).to_lowercase())))
        }
        ("ADD", [id, raft_addr, resp_addr]) => RaftCmd::Add {
            id: args::uint(id)?,
            node: PeerNode {
                raft_addr: args::show(raft_addr),
                resp_addr: args::show(resp_addr),
            },
        },
        ("ADD", _) => return Err(arity("raft|add")),
        ("REMOVE", [id]) => RaftCmd::Remove { id: args::uint(id)? },
        ("REMOVE", _) => return Err(arity("raft|remove")),
        ("TRANSFER", [id]) => RaftCmd::Transfer { id: args::uint(id)? },
        ("TRANSFER", _) => return Err(arity("raft|transfer")),
        _ => {
            return Err(Reply::err(format!(
                "ERR unknown subcommand '{}' for 'raft'",
                args::show(sub)
            )))
        }
    };
    Ok(Command::Raft(cmd))
}

pub fn execute(c: RaftCmd, ctx: &Arc<ServerCtx>) -> Dispatched {
    let node = ctx.node.clone();
    match c {
        RaftCmd::Info => Dispatched::Now(info(&node)),
        RaftCmd::StateHash => Dispatched::Now(state_hash(&node)),
        RaftCmd::Snapshot => Dispatched::later(async move {
            match node.raft.trigger().snapshot().await {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::err(format!("ERR {e}")),
            }
        }),
        RaftCmd::Add { id, node: peer } => {
            admin_reply(async move { node.admin(AdminOp::Add { id, node: peer }).await })
        }
        RaftCmd::Remove { id } => admin_reply(async move { node.admin(AdminOp::Remove { id }).await }),
        RaftCmd::Transfer { id } => admin_reply(async move { node.transfer_to(id).await }),
        RaftCmd::Backup => Dispatched::later(async move {
            match node.backup().await {
                Ok(file) => Reply::Bulk(file.into()),
                Err(e) => super::outcome::node_error(e, &[]),
            }
        }),
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
        // From the state machine itself: openraft's metrics may lag an applied write.
        ("applied-index", idx(node.sm.read().last_applied.map(|l| l.index))),
        ("last-log-index", idx(m.last_log_index)),
        ("snapshot-index", idx(m.snapshot.map(|l| l.index))),
        ("purged-index", idx(m.purged.map(|l| l.index))),
        ("voters", ids(voters)),
        ("learners", ids(learners)),
    ])
}

/// The applied index and a hash of the state machine's snapshot encoding.
fn state_hash(node: &Node) -> Reply {
    let st = node.sm.read();
    let applied = st.last_applied.map_or(0, |l| l.index);
    match postcard::to_allocvec(&st.sm) {
        Ok(bytes) => Reply::map(vec![
            ("applied-index", Reply::Int(applied as i64)),
            ("state-hash", Reply::text(&crate::sm::script::sha1::sha1_hex(&bytes))),
        ]),
        Err(e) => Reply::err(format!("ERR state encoding failed: {e}")),
    }
}
