//! Membership and leadership operations on a running cluster: RAFT ADD / REMOVE (run
//! on the leader) and RAFT TRANSFER. Knows Raft and the peer pool, not the node.

use openraft::async_runtime::watch::WatchReceiver;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use openraft::errors::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::raft::ClientWriteResponse;
use openraft::ChangeMembers;

use crate::peer::client::PeerPool;
use crate::peer::wire::{AdminOp, PeerRequest, PeerResponse};
use crate::raft::types::{NodeId, PeerNode, Raft, TypeConfig};

type Change = ChangeMembers<NodeId, PeerNode>;
type ChangeResult = Result<ClientWriteResponse<TypeConfig>, RaftError<TypeConfig, ClientWriteError<TypeConfig>>>;

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

    /// RAFT TRANSFER: asks the leader to hand leadership to node `to` (openraft's
    /// transfer: the leader stops taking writes, brings `to` up to date and tells it
    /// to elect itself at once). Asked again while the leader lets it pass (a transfer
    /// can lose to a timeout); +OK once `to` leads, an error after TRANSFER_TIMEOUT.
    pub async fn transfer_to(&self, to: NodeId) -> Result<String, String> {
        let m = self.raft.metrics().borrow_watched().clone();
        if m.membership_config.membership().get_node(&to).is_none() {
            return Err(format!("ERR node {to} is not a member"));
        }
        if !m.membership_config.membership().voter_ids().any(|v| v == to) {
            return Err(format!("ERR node {to} is not a voter"));
        }
        let deadline = tokio::time::Instant::now() + TRANSFER_TIMEOUT;
        let mut metrics = self.raft.metrics();
        loop {
            let (leader, leader_addr) = {
                let m = metrics.borrow_and_update();
                let addr = m.current_leader.and_then(|l| {
                    m.membership_config
                        .membership()
                        .get_node(&l)
                        .map(|n| n.raft_addr.clone())
                });
                (m.current_leader, addr)
            };
            if leader == Some(to) {
                return Ok(format!("node {to} leads"));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "ERR node {to} did not become leader within {}s",
                    TRANSFER_TIMEOUT.as_secs()
                ));
            }
            let asked = match (leader, leader_addr) {
                (Some(l), _) if l == self.id => self.execute(AdminOp::Transfer { to }).await,
                (Some(_), Some(addr)) => self.admin_at(&addr, AdminOp::Transfer { to }).await,
                _ => Err("no leader to transfer from yet".into()),
            };
            if let Err(e) = asked {
                tracing::debug!(to, error = %e, "transfer: request not taken");
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), metrics.changed()).await;
        }
    }

    /// On a clean shutdown of the leader: hands leadership to the voter whose log is
    /// furthest along, and waits (up to `within`) until it leads, so a rolling restart
    /// fails no request. Nothing to do on a follower or a single node.
    pub async fn step_down(&self, within: Duration) {
        let best = {
            let m = self.raft.metrics();
            let m = m.borrow_watched();
            if m.state != openraft::ServerState::Leader {
                return;
            }
            let voters: Vec<NodeId> = m
                .membership_config
                .membership()
                .voter_ids()
                .filter(|v| *v != self.id)
                .collect();
            let matched = |id: &NodeId| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten())
                    .map(|l| l.index)
            };
            voters.into_iter().max_by_key(|v| matched(v))
        };
        let Some(to) = best else {
            return;
        };
        tracing::info!(to, "shutting down: handing leadership over");
        if let Err(e) = self.raft.trigger().transfer_leader(to).await {
            tracing::warn!(to, error = %e, "leadership hand-over not started");
            return;
        }
        let mut metrics = self.raft.metrics();
        let moved = tokio::time::timeout(within, async {
            loop {
                if metrics.borrow_and_update().current_leader == Some(to) {
                    return;
                }
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if moved.is_err() {
            tracing::warn!(to, "leadership did not move before shutdown");
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

    /// Changes the membership, waiting out the refusals that clear by themselves:
    /// another change still committing (two nodes joining at once, through different
    /// members) and a new leader that has not yet committed an entry of its term. Any
    /// other refusal, or one still standing at `deadline`, is returned.
    ///
    /// Without this, RAFT ADD could stop halfway: the node added as a learner, its
    /// promotion refused, and the joining node (which saw itself in the membership)
    /// content to stay a learner for good (cluster.rs,
    /// `membership_grow_and_shrink_under_load`, 1 run in 3).
    async fn change_patiently(&self, change: Change, retain: bool, deadline: tokio::time::Instant) -> ChangeResult {
        loop {
            let r = self.raft.change_membership(change.clone(), retain).await;
            let transient = matches!(
                r.as_ref().err().and_then(|e| e.api_error()),
                Some(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_) | ChangeMembershipError::UncommittedLeaderLog(_)
                ))
            );
            if !transient || tokio::time::Instant::now() >= deadline {
                return r;
            }
            // The other change commits within a few round trips; polling keeps this off
            // the metrics channel, which wakes on every apply under load.
            tokio::time::sleep(Duration::from_millis(50)).await;
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
                let deadline = tokio::time::Instant::now() + ADD_TIMEOUT;
                let learner = ChangeMembers::AddNodes([(id, node)].into());
                let added = match self.change_patiently(learner, true, deadline).await {
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
                let voter = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
                match self.change_patiently(voter, false, deadline).await {
                    Ok(_) => Ok(format!("node {id} is a voter")),
                    Err(e) => Err(fmt_err(&e)),
                }
            }
            AdminOp::Remove { id } => {
                let m = self.raft.metrics().borrow_watched().clone();
                let is_voter = m.membership_config.membership().voter_ids().any(|v| v == id);
                let change = if is_voter {
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                };
                let deadline = tokio::time::Instant::now() + ADD_TIMEOUT;
                match self.change_patiently(change, false, deadline).await {
                    Ok(_) => Ok(format!("node {id} removed")),
                    Err(e) => Err(fmt_err(&e)),
                }
            }
            AdminOp::TriggerElect => match self.raft.trigger().elect(false).await {
                Ok(()) => Ok("election started".into()),
                Err(e) => Err(fmt_err(&e)),
            },
            AdminOp::Transfer { to } => match self.raft.trigger().transfer_leader(to).await {
                Ok(()) => Ok(format!("transfer to {to} started")),
                Err(e) => Err(fmt_err(&e)),
            },
        }
    }
}
