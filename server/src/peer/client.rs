//! Outgoing peer connections: one persistent, authenticated connection per peer
//! address, shared by every caller, with many requests in flight. A connection that
//! fails is dropped and replaced on the next call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::outbox::{Outbox, PeerWriter};
use super::tls::PeerTls;
use super::wire::{self, Challenge, Envelope, Hello, PeerRequest, PeerResponse, Proof, Welcome, WireError};
use crate::raft::types::NodeId;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How a call failed, which decides whether its effect is known.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Never left this node: the peer certainly did not act on it.
    #[error("not sent: {0}")]
    NotSent(String),
    /// Sent, but the connection died before the answer came: outcome unknown.
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("timed out")]
    Timeout,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<PeerResponse>>>>;

/// One live connection to a peer.
struct PeerConn {
    outbox: Arc<Outbox>,
    pending: Pending,
    next_id: AtomicU64,
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<PeerResponse>>> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

impl PeerConn {
    /// Queues `req` on the connection now (frames leave in the order they are queued)
    /// and returns the wait for its answer.
    fn send(self: &Arc<Self>, req: PeerRequest) -> Result<Reply, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode(&Envelope { id, body: req }).map_err(|e| CallError::NotSent(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        if self.outbox.send(&frame).is_err() {
            lock(&self.pending).remove(&id);
            return Err(CallError::NotSent("connection closed".into()));
        }
        Ok(Reply {
            conn: self.clone(),
            id,
            rx,
        })
    }
}

/// The answer to a request already sent.
pub struct Reply {
    conn: Arc<PeerConn>,
    id: u64,
    rx: oneshot::Receiver<PeerResponse>,
}

impl Reply {
    /// Waits up to `timeout` for the answer.
    pub async fn wait(self, timeout: Duration) -> Result<PeerResponse, CallError> {
        match tokio::time::timeout(timeout, self.rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(CallError::Lost("peer connection closed".into())),
            Err(_) => {
                lock(&self.conn.pending).remove(&self.id);
                Err(CallError::Timeout)
            }
        }
    }
}

/// All outgoing peer connections of this node, by peer address.
pub struct PeerPool {
    dialer: Dialer,
    conns: DashMap<String, Arc<tokio::sync::Mutex<Option<Arc<PeerConn>>>>>,
}

/// What opening a peer connection takes.
#[derive(Clone)]
struct Dialer {
    my_id: NodeId,
    secret: Arc<Vec<u8>>,
    /// `Some`: every connection is TLS (mutual) before the secret handshake.
    tls: Option<Arc<PeerTls>>,
}

impl PeerPool {
    pub fn new(my_id: NodeId, secret: &[u8], tls: Option<Arc<PeerTls>>) -> Self {
        Self {
            dialer: Dialer {
                my_id,
                secret: Arc::new(secret.to_vec()),
                tls,
            },
            conns: DashMap::new(),
        }
    }

    /// Sends `req` to the peer at `addr` and waits for its answer.
    pub async fn call(&self, addr: &str, req: PeerRequest, timeout: Duration) -> Result<PeerResponse, CallError> {
        self.send(addr, req).await?.wait(timeout).await
    }

    /// Sends `req` to the peer at `addr` without waiting for the answer: requests sent
    /// one after another from one task reach the peer in that order (pipelining).
    pub async fn send(&self, addr: &str, req: PeerRequest) -> Result<Reply, CallError> {
        let conn = self
            .connection(addr)
            .await
            .map_err(|e| CallError::NotSent(e.to_string()))?;
        conn.send(req)
    }

    /// Connects and authenticates to `addr` (or reuses a live connection): proves the
    /// peer is reachable, shares the cluster secret and (with TLS) holds a certificate
    /// of the cluster CA for its address.
    pub async fn probe(&self, addr: &str) -> Result<(), String> {
        self.connection(addr).await.map(|_| ()).map_err(|e| e.to_string())
    }

    async fn connection(&self, addr: &str) -> Result<Arc<PeerConn>, WireError> {
        let slot = self.conns.entry(addr.to_string()).or_default().clone();
        // One connect at a time per peer; callers queue here instead of racing.
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.outbox.is_closed() {
                return Ok(c.clone());
            }
        }
        // Dialled in a task of its own: a caller that gives up (an RPC past its timeout)
        // must not cut a TLS or secret handshake half-way, which the peer would rightly
        // log as a failed handshake. A connection nobody waits for any more closes cleanly.
        let (dialer, to) = (self.dialer.clone(), addr.to_string());
        let dialled = tokio::spawn(async move { dialer.connect(&to).await })
            .await
            .map_err(|e| WireError::Io(std::io::Error::other(e)))?;
        let conn = Arc::new(dialled?);
        *guard = Some(conn.clone());
        Ok(conn)
    }
}

impl Dialer {
    async fn connect(&self, addr: &str) -> Result<PeerConn, WireError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out("connect timed out"))??;
        tcp.set_nodelay(true)?;
        // TLS (when configured) and the secret handshake share one deadline.
        let setup = async {
            let Some(tls) = &self.tls else {
                let (rd, wr) = tcp.into_split();
                return self.start(addr, rd, wr, PeerWriter::Tcp).await;
            };
            match tls.connect(addr, tcp).await {
                Ok(stream) => {
                    let (rd, wr) = tokio::io::split(stream);
                    self.start(addr, rd, wr, |w| PeerWriter::Stream(Box::new(w))).await
                }
                Err(e) => {
                    tracing::warn!(peer = %addr, error = %e, "peer TLS handshake failed");
                    Err(WireError::Tls(e))
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, setup)
            .await
            .map_err(|_| timed_out("handshake timed out"))?
    }

    /// Authenticates over the two halves of a stream, then starts its reader and
    /// writer tasks. Plain TCP comes as its lock-free owned halves; TLS, whose one
    /// session both directions share, as `tokio::io::split` halves.
    async fn start<R, W>(
        &self,
        addr: &str,
        mut rd: R,
        mut wr: W,
        writer: impl FnOnce(W) -> PeerWriter,
    ) -> Result<PeerConn, WireError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let nonce: [u8; 32] = rand::random();
        let hello = Hello {
            cluster: wire::CLUSTER_NAME.into(),
            from: self.my_id,
            nonce,
        };
        wire::write_msg(&mut wr, &hello).await?;
        let ch: Challenge = wire::read_msg(&mut rd, wire::MAX_HANDSHAKE_FRAME).await?;
        if !wire::verify(&self.secret, wire::ROLE_SERVER, &nonce, &ch.proof) {
            return Err(WireError::BadProof);
        }
        let proof = wire::prove(&self.secret, wire::ROLE_CLIENT, &ch.nonce);
        wire::write_msg(&mut wr, &Proof { proof }).await?;
        let _welcome: Welcome = wire::read_msg(&mut rd, wire::MAX_HANDSHAKE_FRAME).await?;

        let outbox = Outbox::start(writer(wr));
        let pending: Pending = Arc::default();

        // Reader: routes answers to their callers; on any error fails them all and
        // stops the writer, which releases the socket.
        let (pending_r, outbox_r) = (pending.clone(), outbox.clone());
        let peer = addr.to_string();
        tokio::spawn(async move {
            // Buffered: a burst of answers costs one read(2), not two per frame.
            let mut rd = tokio::io::BufReader::with_capacity(wire::READ_BUFFER, rd);
            loop {
                match wire::read_envelope::<PeerResponse>(&mut rd, wire::MAX_FRAME).await {
                    Ok(Ok(env)) => {
                        if let Some(tx) = lock(&pending_r).remove(&env.id) {
                            let _ = tx.send(env.body);
                        }
                    }
                    // An answer of a newer version: its caller learns it was refused.
                    Ok(Err(unknown)) => {
                        if let Some(tx) = lock(&pending_r).remove(&unknown.id) {
                            let why = format!("answer not known to this version: {}", unknown.error);
                            let _ = tx.send(PeerResponse::Refused(why));
                        }
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer, error = %e, "peer connection closed");
                        break;
                    }
                }
            }
            outbox_r.close();
            lock(&pending_r).clear();
        });

        Ok(PeerConn {
            outbox,
            pending,
            next_id: AtomicU64::new(1),
        })
    }
}

fn timed_out(what: &str) -> WireError {
    WireError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, what.to_string()))
}
