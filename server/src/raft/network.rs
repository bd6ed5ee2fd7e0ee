//! openraft's network over the peer transport: Raft RPCs travel on the persistent,
//! authenticated connections of `peer::client::PeerPool`.
//!
//! Replication is pipelined: `stream_append` sends up to `MAX_IN_FLIGHT` AppendEntries
//! on the peer connection before it waits for the first answer, and the follower
//! feeds them, in order, to its own Raft's `stream_append`, whose WAL group-commits
//! them. Answers are yielded strictly in request order: openraft 0.10.0-alpha (issue
//! #2120, open) mishandles acks that arrive out of order.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};
use futures::Stream;
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};

use super::commit_hold;
use super::types::{LogId, NodeId, PeerNode, Snapshot, SnapshotData, TypeConfig, Vote};
use crate::peer::client::{CallError, PeerPool};
use crate::peer::wire::{FullSnapshot, PeerRequest, PeerResponse};

/// AppendEntries sent to one follower before the first answer must come back.
pub const MAX_IN_FLIGHT: usize = 16;

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

/// Sorts transport failures the way openraft expects: never sent = unreachable (back
/// off), lost = network error (retry), timeout.
fn rpc_error(e: CallError, action: RPCTypes, my_id: NodeId, target: NodeId, ttl: Duration) -> RPCError<TypeConfig> {
    match e {
        CallError::NotSent(why) => RPCError::Unreachable(Unreachable::from_string(why)),
        e @ CallError::Lost(_) => RPCError::Network(NetworkError::new(&e)),
        CallError::Timeout => RPCError::Timeout(Timeout {
            action,
            id: my_id,
            target,
            timeout: ttl,
        }),
    }
}

fn unexpected() -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::from_string("unexpected peer reply"))
}

/// A remote Raft error (as text): the peer's Raft is stopping or broken.
fn remote(e: String) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::from_string(format!("peer raft: {e}")))
}

impl PeerClient {
    async fn call(
        &self,
        action: RPCTypes,
        req: PeerRequest,
        ttl: Duration,
    ) -> Result<PeerResponse, RPCError<TypeConfig>> {
        self.pool
            .call(&self.addr, req, ttl)
            .await
            .map_err(|e| rpc_error(e, action, self.my_id, self.target, ttl))
    }
}

/// The last log id an AppendEntries covers (its prev when it carries no entries).
fn last_of(req: &AppendEntriesRequest<TypeConfig>) -> Option<LogId> {
    req.entries.last().map(|e| e.log_id).or(req.prev_log_id)
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // openraft uses `stream_append` for replication; a lone AppendEntries (a
        // heartbeat, say) travels as a stream of one.
        let last = last_of(&rpc);
        let ttl = option.hard_ttl();
        match self
            .call(RPCTypes::AppendEntries, PeerRequest::StreamAppend(rpc), ttl)
            .await?
        {
            PeerResponse::StreamAppend(Ok(Ok(durable))) if durable != last => {
                Ok(AppendEntriesResponse::PartialSuccess(durable))
            }
            PeerResponse::StreamAppend(Ok(r)) => Ok(r.into()),
            PeerResponse::StreamAppend(Err(e)) => Err(remote(e)),
            _ => Err(unexpected()),
        }
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>, RPCError<TypeConfig>>,
    >
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + openraft::OptionalSend + Unpin + 'static,
    {
        let pipe = Pipeline {
            pool: self.pool.clone(),
            addr: self.addr.clone(),
            my_id: self.my_id,
            target: self.target,
            rtt: crate::metrics::METRICS.peer_rtt(self.target),
            ttl: option.hard_ttl(),
            input,
            input_done: false,
            in_flight: FuturesOrdered::new(),
            held: None,
            stopped: false,
        };
        Box::pin(async move { Ok(pipe.into_stream()) })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RPCTypes::Vote, PeerRequest::Vote(rpc), option.hard_ttl())
            .await?
        {
            PeerResponse::Vote(r) => r.map_err(remote),
            _ => Err(unexpected()),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(RPCTypes::Vote, PeerRequest::PreVote(rpc), option.hard_ttl())
            .await?
        {
            PeerResponse::Vote(r) => r.map_err(remote),
            _ => Err(unexpected()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl std::future::Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let req = PeerRequest::Snapshot(Box::new(FullSnapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot.into_inner(),
        }));
        let ttl = option.hard_ttl();
        let call = self.pool.call(&self.addr, req, ttl);
        let resp = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            r = call => r,
        };
        let map = |e: RPCError<TypeConfig>| match e {
            RPCError::Timeout(t) => StreamingError::Timeout(t),
            RPCError::Unreachable(u) => StreamingError::Unreachable(u),
            RPCError::Network(n) => StreamingError::Network(n),
            RPCError::RemoteError(r) => StreamingError::Network(NetworkError::from_string(r.to_string())),
        };
        match resp.map_err(|e| map(rpc_error(e, RPCTypes::InstallSnapshot, self.my_id, self.target, ttl)))? {
            PeerResponse::Snapshot(Ok(r)) => Ok(r),
            PeerResponse::Snapshot(Err(e)) => Err(map(remote(e))),
            _ => Err(map(unexpected())),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(
                RPCTypes::TransferLeader,
                PeerRequest::TransferLeader(req),
                option.hard_ttl(),
            )
            .await?
        {
            PeerResponse::TransferLeader(r) => r.map_err(remote),
            _ => Err(unexpected()),
        }
    }
}

/// The leader's end of one replication stream to one follower.
struct Pipeline<S> {
    pool: Arc<PeerPool>,
    addr: String,
    my_id: NodeId,
    target: NodeId,
    /// `fencepost_peer_rtt_seconds{peer=target}`, resolved once per stream.
    rtt: Arc<crate::metrics::Histogram>,
    ttl: Duration,
    input: S,
    input_done: bool,
    in_flight: FuturesOrdered<BoxFuture<'static, (Result<PeerResponse, CallError>, Sent)>>,
    /// A commit-only request waiting (until the instant) for an append to ride on.
    held: Option<(AppendEntriesRequest<TypeConfig>, tokio::time::Instant)>,
    stopped: bool,
}

/// What an answer is checked against once it comes back.
struct Sent {
    last: Option<LogId>,
    since: std::time::Instant,
    entries: u64,
}

type Item = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

impl<S> Pipeline<S>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + openraft::OptionalSend + Unpin + 'static,
{
    fn into_stream<'s>(self) -> BoxStream<'s, Item> {
        Box::pin(futures::stream::unfold(self, |mut p| async move {
            let item = p.next_answer().await?;
            Some((item, p))
        }))
    }

    /// Sends what the input offers while the pipe has room, and yields the next
    /// answer in request order. None ends the stream.
    async fn next_answer(&mut self) -> Option<Item> {
        if self.stopped {
            return None;
        }
        loop {
            let pending = self.in_flight.len() + usize::from(self.held.is_some());
            let room = !self.input_done && pending < MAX_IN_FLIGHT;
            if !room && pending == 0 {
                return None;
            }
            let hold_until = self.held.as_ref().map(|(_, until)| *until);
            let sent = tokio::select! {
                biased;
                Some((resp, sent)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    return Some(self.answer(resp, sent));
                }
                _ = tokio::time::sleep_until(hold_until.unwrap_or_else(tokio::time::Instant::now)), if hold_until.is_some() => {
                    self.send_held().await
                }
                req = self.input.next(), if room => match req {
                    None => {
                        self.input_done = true;
                        self.send_held().await
                    }
                    Some(req) => self.offer(req).await,
                },
            };
            if let Err(e) = sent {
                self.stopped = true;
                return Some(Err(e));
            }
        }
    }

    /// Takes the next request from openraft: holds it if it only moves the commit
    /// index, drops a held one it covers, and sends the rest in order.
    async fn offer(&mut self, req: AppendEntriesRequest<TypeConfig>) -> Result<(), RPCError<TypeConfig>> {
        let mut until = tokio::time::Instant::now() + commit_hold::HOLD;
        if let Some((held, held_until)) = self.held.take() {
            if commit_hold::covers(&req, &held) {
                // `req`'s answer acknowledges `held` too (same previous log id).
                crate::metrics::inc(&crate::metrics::METRICS.commit_only_merged);
                until = held_until;
            } else {
                self.send(held).await?;
            }
        }
        if commit_hold::is_commit_only(&req) {
            self.held = Some((req, until));
            return Ok(());
        }
        self.send(req).await
    }

    async fn send_held(&mut self) -> Result<(), RPCError<TypeConfig>> {
        match self.held.take() {
            Some((held, _)) => self.send(held).await,
            None => Ok(()),
        }
    }

    async fn send(&mut self, req: AppendEntriesRequest<TypeConfig>) -> Result<(), RPCError<TypeConfig>> {
        let sent = Sent {
            last: last_of(&req),
            since: std::time::Instant::now(),
            entries: req.entries.len() as u64,
        };
        let reply = self
            .pool
            .send(&self.addr, PeerRequest::StreamAppend(req))
            .await
            .map_err(|e| rpc_error(e, RPCTypes::AppendEntries, self.my_id, self.target, self.ttl))?;
        let ttl = self.ttl;
        self.in_flight
            .push_back(Box::pin(async move { (reply.wait(ttl).await, sent) }));
        Ok(())
    }

    fn answer(&mut self, resp: Result<PeerResponse, CallError>, sent: Sent) -> Item {
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.stopped = true;
                return Err(rpc_error(e, RPCTypes::AppendEntries, self.my_id, self.target, self.ttl));
            }
        };
        match resp {
            PeerResponse::StreamAppend(Ok(r)) => {
                crate::timings::REPLICATION_RPC.record(sent.since, sent.entries);
                self.rtt.observe(sent.since.elapsed());
                // A conflict, a higher vote, or only part of the request made durable:
                // this stream is done; openraft starts another from the right place.
                let complete = matches!(&r, Ok(durable) if *durable == sent.last);
                if !complete {
                    self.stopped = true;
                }
                Ok(r)
            }
            PeerResponse::StreamAppend(Err(e)) => {
                self.stopped = true;
                Err(remote(e))
            }
            _ => {
                self.stopped = true;
                Err(unexpected())
            }
        }
    }
}
