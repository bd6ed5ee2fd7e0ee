//! fencepost-jepsen: a fault-injection harness for fencepost clusters.
//!
//! Nodes run in their own network namespaces joined by a bridge namespace; nemeses
//! partition, delay, kill, pause, skew clocks and change membership; workloads record a
//! Jepsen-style history (EDN) that the checkers below judge. Each checker is proven by
//! a deliberate server bug (`fencepost-server` feature `mutations`) that it must catch.

pub mod checkers;
pub mod client;
pub mod cluster;
pub mod history;
pub mod mutations;
pub mod nemesis;
pub mod net;
pub mod plot;
pub mod run;
pub mod workloads;
