//! fencepost: a Redis-protocol server whose locks, fences, rate limits and idempotency
//! keys live in a Raft-replicated state machine.

pub mod acl_log;
pub mod backup;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod connection;
pub mod context;
pub mod error;
pub mod frame;
pub mod httpd;
pub mod membership;
pub mod metrics;
pub mod mutation;
pub mod node;
pub mod peer;
pub mod proposer;
pub mod query;
pub mod raft;
pub mod reply;
pub mod server;
pub mod session;
pub mod sm;
pub mod timings;
pub mod tls;
pub mod waiters;
