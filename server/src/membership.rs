//! Cluster formation and membership: `--initial-cluster`, `--join`, and the RAFT ADD /
//! REMOVE / TRANSFER operations (run on the leader, forwarded there by followers).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::BytesMut;
use openraft::ChangeMembers;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::node::Node;
use crate::peer::wire::{AdminOp, PeerRequest, PeerResponse};
use crate::raft::types::{NodeId, PeerNode};

/// Adding a node waits for it to catch up as a learner; give it time, but not forever.
const ADD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long RAFT TRANSFER keeps asking the target to win an election.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);

/// Initializes a new cluster (alone, or with the `--initial-cluster` members) unless
/// this node already belongs to one; with `--join`, asks a running cluster to add it.
pub async fn form_or_join(node: &std::sync::Arc<Node>, cfg: &Config) -> anyhow::Result<()> {
    let me = PeerNode {
        raft_addr: cfg.raft_addr(),
        resp_addr: cfg.resp_addr(),
    };
    if let Some(join) = &cfg.join {
        if !node.raft.is_initialized().await? {
            let (node, join, password) = (node.clone(), join.clone(), cfg.requirepass.clone());
            tokio::spawn(async move { join_loop(node, join, me, password).await });
        }
        return Ok(());
    }
    if node.raft.is_initialized().await? {
        return Ok(());
    }
    let members = match cfg.initial_members().map_err(anyhow::Error::msg)? {
        Some(m) => {
            if !m.contains_key(&cfg.node_id) {
                anyhow::bail!("--initial-cluster does not list this node's id {}", cfg.node_id);
            }
            m
        }
        None => BTreeMap::from([(cfg.node_id, me)]),
    };
    tracing::info!(members = members.len(), "forming a new cluster");
    // Every founding member calls this with the same list, which openraft allows; a
    // member that already heard from an elected leader is refused, harmlessly.
    if let Err(e) = node.raft.initialize(members).await {
        tracing::info!(error = %e, "initialize skipped");
    }
    Ok(())
}

/// Asks the cluster at `join` (a client address) to add this node, until it is a member.
async fn join_loop(node: std::sync::Arc<Node>, join: String, me: PeerNode, password: Option<String>) {
    loop {
        let is_member = node
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&node.id)
            .is_some();
        if is_member {
            tracing::info!(via = %join, "joined the cluster");
            return;
        }
        let id = node.id.to_string();
        let cmd = ["RAFT", "ADD", id.as_str(), me.raft_addr.as_str(), me.resp_addr.as_str()];
        match resp_call(&join, password.as_deref(), &cmd).await {
            Ok(reply) if reply.starts_with('+') => {}
            Ok(reply) => {
                tracing::warn!(via = %join, reply = %reply.trim_end(), "join refused; retrying")
            }
            Err(e) => tracing::warn!(via = %join, error = %e, "join failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sends one command over RESP and returns the first reply line (enough for +OK/-ERR).
async fn resp_call(addr: &str, password: Option<&str>, cmd: &[&str]) -> std::io::Result<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    let mut out = BytesMut::new();
    let mut push = |args: &[&str]| {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    };
    if let Some(p) = password {
        push(&["AUTH", p]);
    }
    push(cmd);
    s.write_all(&out).await?;
    let mut buf = Vec::new();
    let mut lines = Vec::new();
    let want = if password.is_some() { 2 } else { 1 };
    let read = async {
        while lines.len() < want {
            let mut chunk = [0u8; 512];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
                lines.push(String::from_utf8_lossy(&buf[..pos]).into_owned());
                buf.drain(..pos + 2);
            }
        }
        Ok(())
    };
    tokio::time::timeout(ADD_TIMEOUT, read)
        .await
        .map_err(|_| std::io::Error::other("no reply"))??;
    Ok(lines.pop().unwrap_or_default())
}

impl Node {
    /// Runs a membership/leadership operation on the right node.
    pub async fn admin(&self, op: AdminOp) -> Result<String, String> {
        let m = self.raft.metrics().borrow().clone();
        let target = match &op {
            AdminOp::TriggerElect => return Err("use transfer_to".into()),
            _ => m.current_leader,
        };
        match target {
            Some(l) if l == self.id => self.admin_here(op).await,
            Some(l) => {
                let Some(n) = m.membership_config.membership().get_node(&l).cloned() else {
                    return Err("CLUSTERDOWN leader address unknown".into());
                };
                self.admin_at(&n.raft_addr, op).await
            }
            None => Err("CLUSTERDOWN no leader".into()),
        }
    }

    /// RAFT TRANSFER: makes node `to` the leader by having it call elections (openraft
    /// 0.9 has no direct transfer). Voters refuse votes while the current leader's lease
    /// holds (up to the maximum election timeout after a vote change), so the election
    /// is retried until `to` leads or TRANSFER_TIMEOUT passes; only then is it +OK.
    pub async fn transfer_to(&self, to: NodeId) -> Result<String, String> {
        let m = self.raft.metrics().borrow().clone();
        let Some(target) = m.membership_config.membership().get_node(&to).cloned() else {
            return Err(format!("ERR node {to} is not a member"));
        };
        if !m.membership_config.membership().voter_ids().any(|v| v == to) {
            return Err(format!("ERR node {to} is not a voter"));
        }
        let deadline = tokio::time::Instant::now() + TRANSFER_TIMEOUT;
        let mut metrics = self.raft.metrics();
        loop {
            if metrics.borrow_and_update().current_leader == Some(to) {
                return Ok(format!("node {to} leads"));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "ERR node {to} did not become leader within {}s",
                    TRANSFER_TIMEOUT.as_secs()
                ));
            }
            let elect = if to == self.id {
                self.admin_here(AdminOp::TriggerElect).await
            } else {
                self.admin_at(&target.raft_addr, AdminOp::TriggerElect).await
            };
            if let Err(e) = elect {
                tracing::debug!(to, error = %e, "transfer: election trigger failed");
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), metrics.changed()).await;
        }
    }

    async fn admin_at(&self, raft_addr: &str, op: AdminOp) -> Result<String, String> {
        match self.pool.call(raft_addr, PeerRequest::Admin(op), ADD_TIMEOUT).await {
            Ok(PeerResponse::Admin(r)) => r,
            Ok(_) => Err("UNCERTAIN unexpected peer reply".into()),
            Err(e) => Err(format!("UNCERTAIN {e}")),
        }
    }

    /// Waits until the leader has replicated at least up to `index` to learner `id`.
    async fn learner_caught_up(&self, id: NodeId, index: u64) -> bool {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + ADD_TIMEOUT;
        loop {
            let matched = metrics
                .borrow_and_update()
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned().flatten())
                .map(|l| l.index);
            if matched.is_some_and(|m| m >= index) {
                return true;
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }

    /// Executes `op` on this node (the leader, except for TriggerElect).
    pub async fn admin_here(&self, op: AdminOp) -> Result<String, String> {
        let fmt_err = |e: &dyn std::fmt::Display| format!("ERR {e}");
        match op {
            AdminOp::Add { id, node } => {
                // A node we cannot reach or that fails the secret would sit in the
                // membership as a learner that never catches up: refuse it up front.
                if let Err(e) = self.pool.probe(&node.raft_addr).await {
                    return Err(format!("ERR cannot reach node {id} at {}: {e}", node.raft_addr));
                }
                // openraft's own "blocking" wait gives up quietly and still says Ok, so
                // catch-up is checked here: a voter that cannot keep up would cost quorum.
                let added = match self.raft.add_learner(id, node, false).await {
                    Ok(r) => r.log_id.index,
                    Err(e) => return Err(fmt_err(&e)),
                };
                if !self.learner_caught_up(id, added).await {
                    let _ = self
                        .raft
                        .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                        .await;
                    return Err(format!(
                        "ERR node {id} did not catch up within {}s; not added",
                        ADD_TIMEOUT.as_secs()
                    ));
                }
                let voters = BTreeSet::from([id]);
                match self
                    .raft
                    .change_membership(ChangeMembers::AddVoterIds(voters), false)
                    .await
                {
                    Ok(_) => Ok(format!("node {id} is a voter")),
                    Err(e) => Err(fmt_err(&e)),
                }
            }
            AdminOp::Remove { id } => {
                let m = self.raft.metrics().borrow().clone();
                let is_voter = m.membership_config.membership().voter_ids().any(|v| v == id);
                let change = if is_voter {
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                };
                match self.raft.change_membership(change, false).await {
                    Ok(_) => Ok(format!("node {id} removed")),
                    Err(e) => Err(fmt_err(&e)),
                }
            }
            AdminOp::TriggerElect => match self.raft.trigger().elect().await {
                Ok(()) => Ok("election started".into()),
                Err(e) => Err(fmt_err(&e)),
            },
        }
    }
}
