//! The client listeners: plaintext (`--port`, unless 0) and TLS (`--tls-port`). Each
//! accepts connections up to the one shared cap and runs one task per client (owned by
//! the node). SIGHUP re-reads the TLS material of clients and peers. Shutdown is
//! graceful: stop accepting, end the node's tasks, then stop Raft.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::connection;
use crate::context::ServerCtx;
use crate::node::Node;
use crate::tls::{self, Reloadable};

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    // Read before the node starts, so a bad file stops a start-up rather than a
    // running node.
    let client_tls = match config.client_tls() {
        Some(files) => Some(Arc::new(
            Reloadable::new(move || tls::client_acceptor(&files)).map_err(|e| anyhow::anyhow!("client TLS: {e}"))?,
        )),
        None => None,
    };
    let node = Node::start(&config).await?;
    let plain = match config.port {
        0 => None,
        port => Some(TcpListener::bind((config.bind, port)).await?),
    };
    let secure = match config.tls_port {
        Some(port) => Some(TcpListener::bind((config.bind, port)).await?),
        None => None,
    };
    for (l, kind) in [(&plain, "plaintext"), (&secure, "tls")] {
        if let Some(l) = l {
            tracing::info!(addr = %l.local_addr()?, kind, node_id = config.node_id, "fencepost listening");
        }
    }
    let permits = Arc::new(Semaphore::new(config.max_clients));
    let metrics_addr = config.metrics_addr;
    let ctx = Arc::new(ServerCtx::new(node.clone(), config));
    if let Some(addr) = metrics_addr {
        crate::httpd::start(addr, ctx.clone()).await?;
    }
    node.spawn(reload_on_sighup(node.clone(), client_tls.clone()));
    tokio::pin!(shutdown);
    loop {
        let (stream, addr, secure) = tokio::select! {
            _ = &mut shutdown => break,
            _ = ctx.shutdown.notified() => break,
            r = accept(&plain) => match r {
                Ok((s, a)) => (s, a, false),
                Err(e) => { backoff(e).await; continue; }
            },
            r = accept(&secure) => match r {
                Ok((s, a)) => (s, a, true),
                Err(e) => { backoff(e).await; continue; }
            },
        };
        ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            ctx.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            if !secure {
                node.spawn(connection::refuse(stream));
            }
            continue;
        };
        let ctx2 = ctx.clone();
        // A node task: it ends with the node at shutdown.
        match (secure, &client_tls) {
            (true, Some(tls)) => {
                let acceptor: TlsAcceptor = (*tls.current()).clone();
                node.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection::serve_tls(s, addr, ctx2).await,
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "client TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "client TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
            _ => node.spawn(async move {
                connection::serve_tcp(stream, addr, ctx2).await;
                drop(permit);
            }),
        }
    }
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}

/// The next connection on `l`, or never when that listener is off.
async fn accept(l: &Option<TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Out of file descriptors and the like: back off instead of spinning.
async fn backoff(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// SIGHUP re-reads the certificate, key and CA files of clients and peers.
async fn reload_on_sighup(node: Arc<Node>, client_tls: Option<Arc<Reloadable<TlsAcceptor>>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: TLS material will not reload");
            return;
        };
        while hup.recv().await.is_some() {
            if let Some(t) = &client_tls {
                match t.reload() {
                    Ok(()) => tracing::info!("client TLS material reloaded"),
                    Err(e) => tracing::error!(error = %e, "client TLS reload failed; the old material stays in force"),
                }
            }
            if let Some(t) = &node.peer_tls {
                match t.reload() {
                    Ok(()) => tracing::info!("peer TLS material reloaded"),
                    Err(e) => tracing::error!(error = %e, "peer TLS reload failed; the old material stays in force"),
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (node, client_tls);
    }
}
