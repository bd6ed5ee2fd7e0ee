//! openraft type configuration: what a log entry carries and what a node is.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::sm;

/// Raft node ids are small integers chosen by the operator (`--node-id`).
pub type NodeId = u64;

/// How to reach a cluster member: its peer (Raft) address and its client (RESP) address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    pub raft_addr: String,
    pub resp_addr: String,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} resp={}", self.raft_addr, self.resp_addr)
    }
}

openraft::declare_raft_types!(
    /// fencepost's Raft: each entry carries a batch of state-machine requests stamped by
    /// the leader (batching: openraft 0.9 fsyncs each client write on its own, so many
    /// client operations ride in one entry), and yields one response per request.
    pub TypeConfig:
        D = Vec<sm::Request>,
        R = Vec<sm::Response>,
        NodeId = NodeId,
        Node = PeerNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// Wraps an I/O failure as the storage error openraft expects.
pub fn storage_io_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    err: impl std::error::Error + 'static,
) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(
        subject,
        verb,
        openraft::AnyError::new(&err),
    ))
}
