//! openraft glue: type configuration, durable log, state-machine store, peer network.

mod commit_hold;
pub mod durable_file;
pub mod log_store;
pub mod log_writer;
pub mod network;
mod snapshot_file;
mod snapshot_fork;
pub mod state_machine;
pub mod types;
pub mod wal;
