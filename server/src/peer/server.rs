//! Incoming peer connections: authenticate with the cluster secret, then serve Raft
//! RPCs and forwarded client requests concurrently, answering each by its id.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::wire::{self, Challenge, Envelope, Hello, PeerRequest, PeerResponse, Proof, Welcome, WireError};
use crate::node::Node;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves peers on `listener` until the task is dropped.
pub async fn run(listener: TcpListener, node: Arc<Node>, secret: Arc<Vec<u8>>) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (node, secret) = (node.clone(), secret.clone());
        tokio::spawn(async move {
            if let Err(e) = serve(stream, addr, node, secret).await {
                tracing::debug!(peer = %addr, error = %e, "peer connection ended");
            }
        });
    }
}

async fn serve(stream: TcpStream, addr: SocketAddr, node: Arc<Node>, secret: Arc<Vec<u8>>) -> Result<(), WireError> {
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
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
        wire::write_msg(&mut wr, &Welcome { node_id: node.id }).await?;
        Ok(hello.from)
    };
    let from = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
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

    let (replies, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        let mut buf = Vec::new();
        while let Some(first) = outgoing.recv().await {
            buf.clear();
            buf.extend_from_slice(&first);
            while buf.len() < (1 << 20) {
                match outgoing.try_recv() {
                    Ok(more) => buf.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if wr.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let result = loop {
        let env: Envelope<PeerRequest> = match wire::read_msg(&mut rd, wire::MAX_FRAME).await {
            Ok(env) => env,
            Err(e) => break Err(e),
        };
        let (node, replies) = (node.clone(), replies.clone());
        // Writes are queued here, in arrival order, before any task switch: a client's
        // pipeline forwarded by a follower applies in the order the client sent it.
        let body = match env.body {
            PeerRequest::Write(op) => Handled::Write(Box::pin(node.submit_here(op))),
            other => Handled::Other(other),
        };
        tokio::spawn(async move {
            let body = match body {
                Handled::Write(wait) => PeerResponse::Write(wait.await),
                Handled::Other(req) => handle(&node, req).await,
            };
            match wire::encode(&Envelope { id: env.id, body }) {
                Ok(frame) => {
                    let _ = replies.send(frame);
                }
                Err(e) => tracing::warn!(error = %e, "peer reply could not be encoded"),
            }
        });
    };
    drop(replies);
    writer.abort();
    result
}

/// A request either already queued (writes) or still to be served.
enum Handled {
    Write(
        std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<crate::sm::Response, crate::node::NodeError>> + Send>,
        >,
    ),
    Other(PeerRequest),
}

async fn handle(node: &Node, req: PeerRequest) -> PeerResponse {
    match req {
        PeerRequest::AppendEntries(r) => PeerResponse::AppendEntries(node.raft.append_entries(r).await),
        PeerRequest::Vote(r) => PeerResponse::Vote(node.raft.vote(r).await),
        PeerRequest::InstallSnapshot(r) => PeerResponse::InstallSnapshot(node.raft.install_snapshot(r).await),
        PeerRequest::Write(op) => PeerResponse::Write(node.write_here(op).await),
        PeerRequest::Read(q) => PeerResponse::Read(node.read_here(q).await),
        PeerRequest::Admin(op) => PeerResponse::Admin(node.admin_here(op).await),
    }
}
