//! Every flag, its default and its validation, in one place.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// How a follower serves clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FollowerMode {
    /// Forward every command to the leader and relay its reply.
    Proxy,
    /// Answer -MOVED with the leader's address.
    Redirect,
}

/// fencepost: a Redis-protocol server for safe locks, fencing tokens, rate limits and
/// idempotency keys, replicated with Raft.
#[derive(Debug, Clone, Parser)]
#[command(name = "fencepost", version)]
pub struct Config {
    /// Address to listen on for clients.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Client (RESP) port.
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Where the Raft log, vote and snapshots live.
    #[arg(long, default_value = "./fencepost-data")]
    pub data_dir: PathBuf,
    /// This node's Raft id.
    #[arg(long, default_value_t = 1)]
    pub node_id: u64,
    /// Peer (Raft) port; defaults to the client port + 10000.
    #[arg(long)]
    pub raft_port: Option<u16>,
    /// Members of a new cluster: 1=HOST:PORT[/HOST:RAFTPORT],2=...
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Join a running cluster through any member's client address.
    #[arg(long)]
    pub join: Option<String>,
    /// Require clients to AUTH with this password.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Shared secret that peers must present.
    #[arg(long)]
    pub cluster_secret: Option<String>,
    #[arg(long, value_enum, default_value_t = FollowerMode::Proxy)]
    pub follower_mode: FollowerMode,
    /// Allow binding a non-loopback address without a password.
    #[arg(long)]
    pub insecure: bool,
    /// Largest stored value (IDEMP responses, FENCE values).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_value_bytes: usize,
    /// Largest bulk string a client may send.
    #[arg(long, default_value_t = 2 << 20)]
    pub max_bulk_bytes: usize,
    /// Most arguments in one command.
    #[arg(long, default_value_t = 1024)]
    pub max_args: usize,
    /// Most bytes one command frame may take (and a client may leave buffered).
    #[arg(long, default_value_t = 8 << 20)]
    pub max_input_bytes: usize,
    /// Most simultaneous client connections.
    #[arg(long, default_value_t = 10_000)]
    pub max_clients: usize,
    /// Raft heartbeat interval.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// Raft election timeout (randomised between this and twice this).
    #[arg(long, default_value_t = 400)]
    pub election_timeout_ms: u64,
    /// Take a snapshot (and compact the log) after this many entries.
    #[arg(long, default_value_t = 50_000)]
    pub snapshot_every: u64,
}

impl Config {
    /// Checks combinations clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !self.bind.is_loopback() && self.requirepass.is_none() && !self.insecure {
            return Err(format!(
                "refusing to listen on non-loopback {} without --requirepass (use --insecure to override)",
                self.bind
            ));
        }
        if self.raft_port.is_none() && self.port > u16::MAX - 10_000 {
            return Err(
                "--port is too high for the default --raft-port (port + 10000): give --raft-port"
                    .into(),
            );
        }
        if self.max_value_bytes > self.max_bulk_bytes {
            return Err("--max-value-bytes must not exceed --max-bulk-bytes".into());
        }
        if self.max_args < 8 {
            return Err("--max-args must be at least 8".into());
        }
        Ok(())
    }

    pub fn raft_port(&self) -> u16 {
        self.raft_port.unwrap_or(self.port.saturating_add(10_000))
    }

    /// The client address peers and clients are told about.
    pub fn resp_addr(&self) -> String {
        format!("{}:{}", self.bind, self.port)
    }

    pub fn raft_addr(&self) -> String {
        format!("{}:{}", self.bind, self.raft_port())
    }
}
