//! The client listener: accepts connections up to the cap, runs one task each (owned
//! by the node), and shuts down gracefully (stop accepting, end the node's tasks, then
//! stop Raft).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::connection;
use crate::node::Node;

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
}

/// Everything a connection task needs, shared.
pub struct ServerCtx {
    pub node: Arc<Node>,
    pub config: Config,
    pub clients: DashMap<u64, ClientInfo>,
    pub stats: Stats,
    pub started: Instant,
    next_client_id: AtomicU64,
}

impl ServerCtx {
    pub fn new_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let node = Node::start(&config).await?;
    let listener = TcpListener::bind((config.bind, config.port)).await?;
    tracing::info!(addr = %listener.local_addr()?, node_id = config.node_id, "fencepost listening");
    let permits = Arc::new(Semaphore::new(config.max_clients));
    let ctx = Arc::new(ServerCtx {
        node: node.clone(),
        config,
        clients: DashMap::new(),
        stats: Stats::default(),
        started: Instant::now(),
        next_client_id: AtomicU64::new(0),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let ctx2 = ctx.clone();
                // A node task: it ends with the node at shutdown.
                node.spawn(async move {
                    connection::serve(stream, addr, ctx2).await;
                    drop(permit);
                });
            }
            Err(_) => {
                ctx.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
                node.spawn(connection::refuse(stream));
            }
        }
    }
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}
