//! Cluster membership: forming or joining a cluster at start (`bootstrap`), and the
//! RAFT ADD / REMOVE / TRANSFER operations on a running one (`admin`).

mod admin;
mod bootstrap;

pub use admin::{Membership, ADD_TIMEOUT};
pub use bootstrap::form_or_join;
