//! What the peer listener serves requests with. The transport knows this trait, not
//! the node: the node implements it, so the arrows point from node down to peer.

use futures::future::BoxFuture;

use super::wire::{AdminOp, MemberStatus};
use crate::error::NodeError;
use crate::query::{ReadAnswer, ReadQuery};
use crate::raft::types::{NodeId, Raft};
use crate::sm::{Op, Response};

/// The node-side answers to peer requests.
pub trait PeerHandler: Send + Sync + 'static {
    /// This node's id, told to callers once they have authenticated.
    fn id(&self) -> NodeId;

    /// Whether node `id` belongs to the cluster as this node knows it. Client traffic
    /// forwarded by a node that does not (a removed node may not know it was removed)
    /// is refused: whatever that node tells its clients must not look current.
    fn is_member(&self, id: NodeId) -> bool;

    /// The Raft instance that serves AppendEntries, Vote and InstallSnapshot.
    fn raft(&self) -> &Raft;

    /// Queues a write forwarded by a follower at once, so a client's pipeline applies in
    /// the order it was sent, and returns the wait for its outcome. Proposed here or
    /// refused, never forwarded again.
    fn submit_write(&self, op: Op) -> BoxFuture<'static, Result<Response, NodeError>>;

    /// Runs a read forwarded by a follower, after ReadIndex; never forwarded again.
    fn read(&self, q: ReadQuery) -> BoxFuture<'_, Result<ReadAnswer, NodeError>>;

    /// Runs a membership or leadership operation on this node.
    fn admin(&self, op: AdminOp) -> BoxFuture<'_, Result<String, String>>;

    /// This node's own view of the log, for other nodes' status pages.
    fn status(&self) -> MemberStatus;
}
