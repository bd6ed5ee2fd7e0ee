//! The one place that decides where a request goes that this node could not serve
//! itself because another node leads: forwarded to the leader over the peer
//! connection (`--follower-mode proxy`), or the client is told where the leader is
//! (`redirect`), or refused when it was itself forwarded here.

use std::sync::Arc;

use crate::config::FollowerMode;
use crate::error::NodeError;
use crate::peer::client::{CallError, PeerPool};
use crate::peer::wire::{PeerRequest, PeerResponse};
use crate::raft::types::PeerNode;

pub use crate::error::{READ_TIMEOUT, WRITE_TIMEOUT};

/// Where the request came from, which decides whether it may travel again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node: it may go to the leader.
    Client,
    /// Forwarded by another node (or proposed by this node's own tasks): served here
    /// or refused, never forwarded again, so a request cannot loop between nodes.
    Forwarded,
}

/// What a request does, which decides how a failure to hear back is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// May change state: once sent, a lost answer is -UNCERTAIN.
    Write,
    /// Changes nothing: every failure is safe to retry.
    Read,
    /// Membership and leadership: always proxied (operators and joining nodes may
    /// talk to any node), whatever the follower mode.
    Admin,
}

pub struct Forwarder {
    pool: Arc<PeerPool>,
    mode: FollowerMode,
}

impl Forwarder {
    pub fn new(pool: Arc<PeerPool>, mode: FollowerMode) -> Self {
        Self { pool, mode }
    }

    /// Sends `req` to `leader`, or answers why it cannot go there.
    pub async fn to_leader(
        &self,
        origin: Origin,
        leader: Option<PeerNode>,
        req: PeerRequest,
        effect: Effect,
    ) -> Result<PeerResponse, NodeError> {
        if origin == Origin::Forwarded {
            return Err(NodeError::ClusterDown("not the leader".into()));
        }
        let Some(leader) = leader else {
            return Err(NodeError::ClusterDown("no leader".into()));
        };
        if self.mode == FollowerMode::Redirect && effect != Effect::Admin {
            return Err(NodeError::Redirect { addr: leader.resp_addr });
        }
        let timeout = match effect {
            Effect::Write => WRITE_TIMEOUT,
            Effect::Read => READ_TIMEOUT,
            Effect::Admin => crate::membership::ADD_TIMEOUT,
        };
        match self.pool.call(&leader.raft_addr, req, timeout).await {
            Ok(resp) => Ok(resp),
            Err(CallError::NotSent(why)) => Err(NodeError::ClusterDown(format!("leader unreachable: {why}"))),
            Err(e) if effect == Effect::Read => Err(NodeError::ClusterDown(format!("forwarded read: {e}"))),
            // It reached the leader (or may have): never resend on our own.
            Err(e) => Err(NodeError::Uncertain(format!("forwarded to the leader: {e}"))),
        }
    }
}
