//! What every connection shares: the node, the configuration, the client registry,
//! counters, and this node's ACL log. A leaf below `cmd/` (commands read it; the
//! listener builds it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use dashmap::DashMap;

use crate::acl_log::AclLog;
use crate::config::Config;
use crate::node::Node;

/// MONITOR lines a slow watcher may fall behind by before it misses some (Redis drops
/// a monitor that cannot keep up; this one skips ahead).
const MONITOR_BACKLOG: usize = 4096;

/// What one connected client looks like to CLIENT LIST / INFO.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub addr: SocketAddr,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub since: Instant,
    pub resp: u8,
}

/// Counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub commands: AtomicU64,
    pub connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub protocol_errors: AtomicU64,
    /// ACL refusals by kind (INFO stats: acl_access_denied_*).
    pub acl_denied_cmd: AtomicU64,
    pub acl_denied_key: AtomicU64,
    pub acl_denied_auth: AtomicU64,
}

/// Everything a connection task needs, shared.
pub struct ServerCtx {
    pub node: Arc<Node>,
    pub config: Config,
    pub clients: DashMap<u64, ClientInfo>,
    pub stats: Stats,
    pub started: Instant,
    /// The last ACL denials and failed logins on this node (ACL LOG).
    pub acl_log: AclLog,
    /// SHUTDOWN asks the listener to stop as SIGTERM does.
    pub shutdown: tokio::sync::Notify,
    /// MONITOR lines; `monitors` counts the connections listening, so that nobody
    /// formats a line when none is.
    pub monitor: tokio::sync::broadcast::Sender<Bytes>,
    pub monitors: AtomicUsize,
    next_client_id: AtomicU64,
}

impl ServerCtx {
    pub fn new(node: Arc<Node>, config: Config) -> Self {
        ServerCtx {
            node,
            config,
            clients: DashMap::new(),
            stats: Stats::default(),
            started: Instant::now(),
            acl_log: AclLog::default(),
            shutdown: tokio::sync::Notify::new(),
            monitor: tokio::sync::broadcast::channel(MONITOR_BACKLOG).0,
            monitors: AtomicUsize::new(0),
            next_client_id: AtomicU64::new(0),
        }
    }

    pub fn new_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}
