//! Membership and leadership operations on a running cluster: RAFT ADD / REMOVE (run
//! on the leader) and RAFT TRANSFER. Knows Raft and the peer pool, not the node.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use openraft::ChangeMembers;

use crate::peer::client::PeerPool;
use crate::peer::wire::{AdminOp, PeerRequest, PeerResponse};
use crate::raft::types::{NodeId, Raft};

/// Adding a node waits for it to catch up as a learner; give it time, but not forever.
pub const ADD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long RAFT TRANSFER keeps asking the target to win an election.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);

/// The leader-side membership operations of one node.
pub struct Membership {
    id: NodeId,
    raft: Raft,
    pool: Arc<PeerPool>,
}

impl Membership {
    pub fn new(id: NodeId, raft: Raft, pool: Arc<PeerPool>) -> Self {
        Self { id, raft, pool }
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
                self.execute(AdminOp::TriggerElect).await
            } else {
                self.admin_at(&target.raft_addr, AdminOp::TriggerElect).await
            };
            if let Err(e) = elect {
                tracing::debug!(to, error = %e, "transfer: election trigger failed");
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), metrics.changed()).await;
        }
    }

    /// Runs `op` on the node at `raft_addr`.
    pub async fn admin_at(&self, raft_addr: &str, op: AdminOp) -> Result<String, String> {
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
    pub async fn execute(&self, op: AdminOp) -> Result<String, String> {
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
