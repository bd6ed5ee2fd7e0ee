//! Requests that other nodes send this one: the node side of the peer transport.

use futures::future::BoxFuture;
use futures::FutureExt;
use openraft::async_runtime::watch::WatchReceiver;

use super::forward::Origin;
use super::Node;
use crate::error::NodeError;
use crate::peer::handler::PeerHandler;
use crate::peer::wire::{AdminOp, MemberStatus};
use crate::proposer::Outcome;
use crate::query::{ReadAnswer, ReadQuery};
use crate::raft::types::{NodeId, Raft};
use crate::sm::{Op, Response};

impl PeerHandler for Node {
    fn id(&self) -> NodeId {
        self.id
    }

    fn is_member(&self, id: NodeId) -> bool {
        self.raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .get_node(&id)
            .is_some()
    }

    fn raft(&self) -> &Raft {
        &self.raft
    }

    fn submit_write(&self, op: Op) -> BoxFuture<'static, Result<Response, NodeError>> {
        let submitted = self.proposer.submit(op);
        async move {
            match submitted.wait().await {
                Outcome::Applied(r) => Ok(r),
                Outcome::NotLeader(_) => Err(NodeError::ClusterDown("not the leader".into())),
                Outcome::Failed(e) => Err(e),
            }
        }
        .boxed()
    }

    fn read(&self, q: ReadQuery) -> BoxFuture<'_, Result<ReadAnswer, NodeError>> {
        self.read_from(q, Origin::Forwarded).boxed()
    }

    fn admin(&self, op: AdminOp) -> BoxFuture<'_, Result<String, String>> {
        async move {
            match op {
                // Run where they are sent: an election on the node that should lead, a
                // transfer on the node its sender believes leads.
                AdminOp::TriggerElect | AdminOp::Transfer { .. } => self.membership.execute(op).await,
                _ => self.admin_from(op, Origin::Forwarded).await,
            }
        }
        .boxed()
    }

    fn status(&self) -> MemberStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        MemberStatus {
            term: m.current_term,
            committed: m.local_committed.map_or(0, |l| l.index),
            applied: m.last_applied.map_or(0, |l| l.index),
            last_log: m.last_log_index.unwrap_or(0),
        }
    }
}
