//! openraft type configuration: what a log entry carries and what a node is.

use std::fmt;

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

/// One entry's payload: the operations the leader proposed together, each stamped.
/// Encoded exactly as the list it wraps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Batch(pub Vec<sm::Request>);

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch of {}", self.0.len())
    }
}

openraft::declare_raft_types!(
    /// fencepost's Raft: each entry carries a batch of state-machine requests stamped by
    /// the leader (many client operations ride in one entry, so one apply and one
    /// encode cover them all), and yields one response per request.
    pub TypeConfig:
        D = Batch,
        R = Vec<sm::Response>,
        NodeId = NodeId,
        Node = PeerNode,
);

pub type Raft = openraft::Raft<TypeConfig, super::state_machine::StateMachineStore>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// Snapshots travel whole (RaftNetworkV2 `full_snapshot`), as bytes in memory.
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;
