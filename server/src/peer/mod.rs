//! Peer (node-to-node) transport: persistent authenticated connections carrying Raft
//! RPCs and client requests that followers forward to the leader.

pub mod appender;
pub mod client;
pub mod handler;
pub mod outbox;
pub mod server;
pub mod tls;
pub mod wire;
