//! Incoming peer connections: (optionally) mutual TLS, authenticate with the cluster
//! secret, then serve Raft RPCs and forwarded client requests concurrently, answering
//! each by its id.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::appender::Appender;
use super::handler::PeerHandler;
use super::outbox::{Outbox, PeerWriter};
use super::tls::PeerTls;
use super::wire::{
    self, Challenge, Envelope, Failure, FullSnapshot, Hello, PeerRequest, PeerResponse, Proof, Welcome, WireError,
};
use crate::raft::types::Snapshot;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves peers on `listener` until `stop` is cancelled (every connection ends with it);
/// with `tls`, every peer must complete a mutual TLS handshake before anything else.
pub async fn run<H: PeerHandler>(
    listener: TcpListener,
    node: Arc<H>,
    secret: Arc<Vec<u8>>,
    tls: Option<Arc<PeerTls>>,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, addr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (node, secret, tls, stop) = (node.clone(), secret.clone(), tls.clone(), stop.clone());
        tokio::spawn(async move {
            let served = tokio::select! {
                _ = stop.cancelled() => Ok(()),
                r = serve(stream, addr, node, secret, tls) => r,
            };
            if let Err(e) = served {
                tracing::debug!(peer = %addr, error = %e, "peer connection ended");
            }
        });
    }
}

async fn serve<H: PeerHandler>(
    tcp: TcpStream,
    addr: SocketAddr,
    node: Arc<H>,
    secret: Arc<Vec<u8>>,
    tls: Option<Arc<PeerTls>>,
) -> Result<(), WireError> {
    tcp.set_nodelay(true)?;
    // One deadline for TLS and the secret handshake: a silent caller is dropped in
    // HANDSHAKE_TIMEOUT however far it got.
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let Some(tls) = tls else {
        let (rd, wr) = tcp.into_split();
        return serve_stream(rd, wr, PeerWriter::Tcp, addr, node, secret, deadline).await;
    };
    match tokio::time::timeout_at(deadline, tls.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let (rd, wr) = tokio::io::split(stream);
            let writer = |w| PeerWriter::Stream(Box::new(w));
            serve_stream(rd, wr, writer, addr, node, secret, deadline).await
        }
        Ok(Err(e)) => {
            tracing::warn!(peer = %addr, error = %e, "peer refused: TLS handshake failed");
            Err(WireError::Tls(e))
        }
        Err(_) => {
            tracing::warn!(peer = %addr, "peer refused: TLS handshake timed out");
            Ok(())
        }
    }
}

/// Authenticates the caller over the two halves of a stream (plain TCP's owned halves,
/// or `tokio::io::split` halves of a TLS stream), then serves its requests.
async fn serve_stream<H: PeerHandler, R, W>(
    mut rd: R,
    mut wr: W,
    writer: impl FnOnce(W) -> PeerWriter,
    addr: SocketAddr,
    node: Arc<H>,
    secret: Arc<Vec<u8>>,
    deadline: Instant,
) -> Result<(), WireError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let handshake = async {
        let hello: Hello = wire::read_msg(&mut rd, wire::MAX_HANDSHAKE_FRAME).await?;
        if hello.cluster != wire::CLUSTER_NAME {
            return Err(WireError::BadProof);
        }
        let nonce: [u8; 32] = rand::random();
        let proof = wire::prove(&secret, wire::ROLE_SERVER, &hello.nonce);
        wire::write_msg(&mut wr, &Challenge { proof, nonce }).await?;
        let p: Proof = wire::read_msg(&mut rd, wire::MAX_HANDSHAKE_FRAME).await?;
        if !wire::verify(&secret, wire::ROLE_CLIENT, &nonce, &p.proof) {
            return Err(WireError::BadProof);
        }
        wire::write_msg(&mut wr, &Welcome { node_id: node.id() }).await?;
        Ok(hello.from)
    };
    let from = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(from)) => from,
        Ok(Err(e)) => {
            tracing::warn!(peer = %addr, error = %e, "peer refused: handshake failed");
            return Err(e);
        }
        Err(_) => {
            tracing::warn!(peer = %addr, "peer refused: handshake timed out");
            return Ok(());
        }
    };
    tracing::debug!(peer = %addr, from, "peer authenticated");

    let replies = Outbox::start(writer(wr));
    let mut appender = Appender::new(node.raft().clone(), replies.clone());
    // Buffered: a burst of frames costs one read(2), not two per frame.
    let mut rd = tokio::io::BufReader::with_capacity(wire::READ_BUFFER, rd);
    let result = loop {
        let env: Envelope<PeerRequest> = match wire::read_envelope(&mut rd, wire::MAX_FRAME).await {
            Ok(Ok(env)) => env,
            // A newer peer's request: refused alone, the connection stays.
            Ok(Err(unknown)) => {
                let why = format!("request not known to this version: {}", unknown.error);
                send_reply(&replies, unknown.id, PeerResponse::Refused(why));
                continue;
            }
            Err(e) => break Err(e),
        };
        let (node, replies) = (node.clone(), replies.clone());
        // Writes are queued here, in arrival order, before any task switch: a client's
        // pipeline forwarded by a follower applies in the order the client sent it.
        let body = match env.body {
            PeerRequest::Write(_) | PeerRequest::Read(_) if !node.is_member(from) => {
                let refused = Failure::NotApplied(format!("node {from} is not a member of the cluster"));
                let body = match env.body {
                    PeerRequest::Write(_) => PeerResponse::Write(Err(refused)),
                    _ => PeerResponse::Read(Err(refused)),
                };
                send_reply(&replies, env.id, body);
                continue;
            }
            PeerRequest::Write(op) => Handled::Write(node.submit_write(op)),
            // Replication keeps arrival order too: the leader pipelines it.
            PeerRequest::StreamAppend(r) => {
                crate::metrics::LEADER_CONTACT.touch();
                appender.push(env.id, r);
                continue;
            }
            other => Handled::Other(other),
        };
        tokio::spawn(async move {
            let body = match body {
                Handled::Write(wait) => PeerResponse::Write(wait.await.map_err(Into::into)),
                Handled::Other(req) => handle(&*node, req).await,
            };
            send_reply(&replies, env.id, body);
        });
    };
    replies.close();
    result
}

pub(super) fn send_reply(replies: &Outbox, id: u64, body: PeerResponse) {
    match wire::encode(&Envelope { id, body }) {
        Ok(frame) => {
            // Closed: the caller is gone and learns nothing either way.
            let _ = replies.send(&frame);
        }
        Err(e) => tracing::warn!(error = %e, "peer reply could not be encoded"),
    }
}

/// A request either already queued (writes) or still to be served.
enum Handled {
    Write(futures::future::BoxFuture<'static, Result<crate::sm::Response, crate::error::NodeError>>),
    Other(PeerRequest),
}

async fn handle(node: &impl PeerHandler, req: PeerRequest) -> PeerResponse {
    match req {
        // Served by the appender, in order; never reaches here.
        PeerRequest::StreamAppend(_) => PeerResponse::Refused("replication outside its stream".into()),
        PeerRequest::Vote(r) => PeerResponse::Vote(node.raft().vote(r).await.map_err(|e| e.to_string())),
        PeerRequest::PreVote(r) => PeerResponse::Vote(node.raft().pre_vote(r).await.map_err(|e| e.to_string())),
        PeerRequest::Snapshot(s) => {
            let FullSnapshot { vote, meta, data } = *s;
            let snapshot = Snapshot {
                meta,
                snapshot: std::io::Cursor::new(data),
            };
            PeerResponse::Snapshot(
                node.raft()
                    .install_full_snapshot(vote, snapshot)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
        PeerRequest::TransferLeader(r) => {
            PeerResponse::TransferLeader(node.raft().handle_transfer_leader(r).await.map_err(|e| e.to_string()))
        }
        PeerRequest::Write(op) => PeerResponse::Write(node.submit_write(op).await.map_err(Into::into)),
        PeerRequest::Read(q) => PeerResponse::Read(node.read(q).await.map_err(Into::into)),
        PeerRequest::Admin(op) => PeerResponse::Admin(node.admin(op).await),
        PeerRequest::Status => PeerResponse::Status(node.status()),
    }
}
