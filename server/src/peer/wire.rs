//! The peer protocol on the wire: `u32` big-endian length, then a postcard-encoded
//! message. Requests carry an id so many can be in flight on one connection; replies
//! come back with the same id, in any order.

use hmac::{Hmac, Mac};
use openraft::raft::{
    AppendEntriesRequest, SnapshotResponse, StreamAppendResult, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::NodeError;
use crate::query::{ReadAnswer, ReadQuery};
use crate::raft::types::{NodeId, PeerNode, SnapshotMeta, TypeConfig, Vote};
use crate::sm::{Op, Response};

/// Largest frame before the handshake completes: nobody unauthenticated makes us allocate.
pub const MAX_HANDSHAKE_FRAME: usize = 4 * 1024;
/// Largest frame between authenticated peers (snapshot chunks, entry batches).
pub const MAX_FRAME: usize = 256 << 20;

/// Sent first by the connecting side.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    pub cluster: String,
    pub from: NodeId,
    pub nonce: [u8; 32],
}

/// The accepting side proves it knows the secret and challenges the caller.
#[derive(Debug, Serialize, Deserialize)]
pub struct Challenge {
    pub proof: [u8; 32],
    pub nonce: [u8; 32],
}

/// The caller's proof; answered by [`Welcome`] or a hang-up.
#[derive(Debug, Serialize, Deserialize)]
pub struct Proof {
    pub proof: [u8; 32],
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Welcome {
    pub node_id: NodeId,
}

/// Membership and leadership operations a follower hands to the leader (or, for
/// TriggerElect, to the node that should lead).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminOp {
    Add {
        id: NodeId,
        node: PeerNode,
    },
    Remove {
        id: NodeId,
    },
    TriggerElect,
    /// On the leader: hand leadership to `to` (openraft's transfer).
    Transfer {
        to: NodeId,
    },
}

/// A whole snapshot as it travels (RaftNetworkV2 `full_snapshot`).
#[derive(Debug, Serialize, Deserialize)]
pub struct FullSnapshot {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// Requests between nodes. postcard encodes variants by position: append new ones at
/// the end, never reorder (rolling upgrades).
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// One request of a pipelined replication stream: the follower answers each, in
    /// the order received, once its entries are durable.
    StreamAppend(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Snapshot(Box<FullSnapshot>),
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// A client write received by a follower: the leader stamps and proposes it.
    Write(Op),
    /// A client read received by a follower: the leader runs it after ReadIndex.
    Read(ReadQuery),
    Admin(AdminOp),
    /// The answering node's own view, for another node's status page (`GET /`).
    Status,
}

/// One member's own view of the log, as the status page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub term: u64,
    pub committed: u64,
    pub applied: u64,
    pub last_log: u64,
}

/// Answers, variant for variant. Raft errors travel as text: openraft's error types
/// change shape between versions, and the caller only reports them.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    StreamAppend(Result<StreamAppendResult<TypeConfig>, String>),
    Vote(Result<VoteResponse<TypeConfig>, String>),
    Snapshot(Result<SnapshotResponse<TypeConfig>, String>),
    TransferLeader(Result<TransferLeaderResponse<TypeConfig>, String>),
    Write(Result<Response, Failure>),
    Read(Result<ReadAnswer, Failure>),
    Admin(Result<String, String>),
    /// The request could not be decoded or served at all.
    Refused(String),
    Status(MemberStatus),
}

/// A node's failure as it crosses the wire. It has its own type so that the peer
/// protocol does not change when the node's error type does: postcard encodes variants
/// by position, so variants are only ever appended, never reordered or removed, and a
/// rolling upgrade keeps old and new nodes talking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// Not applied: safe to retry.
    NotApplied(String),
    /// May or may not have applied.
    Ambiguous(String),
    /// Ask the leader at this client address.
    AskLeaderAt(String),
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::ClusterDown(why) => Failure::NotApplied(why),
            NodeError::Uncertain(why) => Failure::Ambiguous(why),
            NodeError::Redirect { addr } => Failure::AskLeaderAt(addr),
        }
    }
}

impl From<Failure> for NodeError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NotApplied(why) => NodeError::ClusterDown(why),
            Failure::Ambiguous(why) => NodeError::Uncertain(why),
            Failure::AskLeaderAt(addr) => NodeError::Redirect { addr },
        }
    }
}

/// A request or response with its correlation id.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("undecodable frame: {0}")]
    Decode(#[from] postcard::Error),
    #[error("peer failed authentication")]
    BadProof,
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
}

/// Encodes `msg` as one frame (length prefix included).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![0u8; 4];
    let body = postcard::to_allocvec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(WireError::TooLarge(body.len()));
    }
    out[..4].copy_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Writes one frame and flushes it: a TLS stream may hold written bytes back until a
/// flush (on plain TCP the flush is free).
pub async fn write_msg<T: Serialize>(w: &mut (impl AsyncWrite + Unpin), msg: &T) -> Result<(), WireError> {
    w.write_all(&encode(msg)?).await?;
    w.flush().await?;
    Ok(())
}

/// Read buffer of an authenticated peer connection.
pub const READ_BUFFER: usize = 64 << 10;

/// Reads one frame; the length is checked against `max` before anything is allocated.
pub async fn read_msg<T: DeserializeOwned>(r: &mut (impl AsyncRead + Unpin), max: usize) -> Result<T, WireError> {
    Ok(postcard::from_bytes(&read_frame(r, max).await?)?)
}

/// Reads one frame's body.
async fn read_frame(r: &mut (impl AsyncRead + Unpin), max: usize) -> Result<Vec<u8>, WireError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// A frame whose id decoded but whose body did not: a message of a newer version
/// (a variant appended since this build), met during a rolling upgrade.
#[derive(Debug)]
pub struct Unknown {
    pub id: u64,
    pub error: postcard::Error,
}

/// Reads one enveloped message. A body this build cannot decode is returned as
/// [`Unknown`] with its id, so that the caller answers or drops that one message and
/// keeps the connection (and the replication stream on it); frames are length-delimited,
/// so the stream stays in step. A frame without even an id is an error.
pub async fn read_envelope<T: DeserializeOwned>(
    r: &mut (impl AsyncRead + Unpin),
    max: usize,
) -> Result<Result<Envelope<T>, Unknown>, WireError> {
    let frame = read_frame(r, max).await?;
    match postcard::from_bytes(&frame) {
        Ok(env) => Ok(Ok(env)),
        Err(error) => match postcard::take_from_bytes::<u64>(&frame) {
            Ok((id, _)) => Ok(Err(Unknown { id, error })),
            Err(_) => Err(error.into()),
        },
    }
}

/// HMAC-SHA256 of `role || nonce` under the cluster secret. The role keeps a proof
/// made by one side from being replayed as the other's.
pub fn prove(secret: &[u8], role: &[u8], nonce: &[u8; 32]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(role);
    mac.update(nonce);
    mac.finalize().into_bytes().into()
}

/// Checks a proof in constant time.
pub fn verify(secret: &[u8], role: &[u8], nonce: &[u8; 32], proof: &[u8; 32]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(role);
    mac.update(nonce);
    mac.verify_slice(proof).is_ok()
}

pub const ROLE_SERVER: &[u8] = b"fencepost-peer-server";
pub const ROLE_CLIENT: &[u8] = b"fencepost-peer-client";
pub const CLUSTER_NAME: &str = "fencepost";

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    /// A newer peer's request (a variant this build lacks) is handed back with its id,
    /// and the frame after it still decodes: the stream stays in step.
    #[tokio::test]
    async fn an_unknown_variant_keeps_its_id_and_the_stream_in_step() {
        let newer = postcard::to_allocvec(&(7u64, 200u32, "a field of a newer version")).expect("encodes");
        let mut bytes = frame(&newer);
        bytes.extend(
            encode(&Envelope {
                id: 8,
                body: PeerRequest::Status,
            })
            .expect("encodes"),
        );
        bytes.extend(frame(&[]));
        let mut rd = &bytes[..];
        match read_envelope::<PeerRequest>(&mut rd, MAX_FRAME).await {
            Ok(Err(Unknown { id: 7, .. })) => {}
            other => panic!("want Unknown with id 7, got {other:?}"),
        }
        match read_envelope::<PeerRequest>(&mut rd, MAX_FRAME).await {
            Ok(Ok(Envelope {
                id: 8,
                body: PeerRequest::Status,
            })) => {}
            other => panic!("want the Status request with id 8, got {other:?}"),
        }
        // Not even an id: the connection cannot go on.
        assert!(matches!(
            read_envelope::<PeerRequest>(&mut rd, MAX_FRAME).await,
            Err(WireError::Decode(_))
        ));
    }
}
