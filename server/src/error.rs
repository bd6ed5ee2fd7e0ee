//! Why a node could not produce a state-machine answer, and how long it waits before it
//! says so. A leaf: everything above the state machine reports these, and nothing here
//! knows who reports them.

use std::time::Duration;

/// A write that has not committed in this long is reported as -UNCERTAIN.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A ReadIndex round that has not finished in this long is reported as -CLUSTERDOWN.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a write or read did not produce a state-machine answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// Not applied (never appended, or cut from the log): safe to retry.
    #[error("CLUSTERDOWN {0}")]
    ClusterDown(String),
    /// Proposed, outcome unknown: it may or may not have applied.
    #[error("UNCERTAIN {0}")]
    Uncertain(String),
    /// `--follower-mode redirect`: the client should ask the leader at this address.
    #[error("MOVED {addr}")]
    Redirect { addr: String },
}
