//! openraft's network over the peer transport: Raft RPCs travel on the persistent,
//! authenticated connections of `peer::client::PeerPool`. Snapshots go as chunked
//! InstallSnapshot RPCs (openraft splits them at `snapshot_max_chunk_size`).

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

use super::types::{NodeId, PeerNode, TypeConfig};
use crate::peer::client::{CallError, PeerPool};
use crate::peer::wire::{PeerRequest, PeerResponse};

/// Creates one client per peer; all share the node's connection pool.
#[derive(Clone)]
pub struct NetworkFactory {
    my_id: NodeId,
    pool: Arc<PeerPool>,
}

impl NetworkFactory {
    pub fn new(my_id: NodeId, pool: Arc<PeerPool>) -> Self {
        Self { my_id, pool }
    }
}

/// A peer as seen from this node.
pub struct PeerClient {
    my_id: NodeId,
    target: NodeId,
    addr: String,
    pool: Arc<PeerPool>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerClient {
        PeerClient {
            my_id: self.my_id,
            target,
            addr: node.raft_addr.clone(),
            pool: self.pool.clone(),
        }
    }
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, PeerNode, E>>;

impl PeerClient {
    /// Sends one RPC and sorts transport failures the way openraft expects:
    /// never sent = unreachable (back off), lost = network error (retry), timeout.
    async fn rpc<T, E: std::error::Error>(
        &self,
        action: RPCTypes,
        req: PeerRequest,
        ttl: Duration,
        unpack: impl FnOnce(PeerResponse) -> Option<Result<T, E>>,
    ) -> RpcResult<T, E> {
        match self.pool.call(&self.addr, req, ttl).await {
            Ok(resp) => match unpack(resp) {
                Some(Ok(v)) => Ok(v),
                Some(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
                None => Err(RPCError::Network(NetworkError::new(&std::io::Error::other(
                    "unexpected peer reply",
                )))),
            },
            Err(CallError::NotSent(why)) => Err(RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why)))),
            Err(e @ CallError::Lost(_)) => Err(RPCError::Network(NetworkError::new(&e))),
            Err(CallError::Timeout) => Err(RPCError::Timeout(Timeout {
                action,
                id: self.my_id,
                target: self.target,
                timeout: ttl,
            })),
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        let (since, entries) = (std::time::Instant::now(), rpc.entries.len() as u64);
        let result = self
            .rpc(
                RPCTypes::AppendEntries,
                PeerRequest::AppendEntries(rpc),
                option.hard_ttl(),
                |r| match r {
                    PeerResponse::AppendEntries(x) => Some(x),
                    _ => None,
                },
            )
            .await;
        if result.is_ok() {
            crate::timings::REPLICATION_RPC.record(since, entries);
        }
        result
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.rpc(
            RPCTypes::InstallSnapshot,
            PeerRequest::InstallSnapshot(rpc),
            option.hard_ttl(),
            |r| match r {
                PeerResponse::InstallSnapshot(x) => Some(x),
                _ => None,
            },
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        self.rpc(RPCTypes::Vote, PeerRequest::Vote(rpc), option.hard_ttl(), |r| match r {
            PeerResponse::Vote(x) => Some(x),
            _ => None,
        })
        .await
    }
}
