//! One fencepost node: proposes writes stamped with the leader's clock, serves
//! linearizable reads after ReadIndex, and routes both to the leader when it is a
//! follower (forwarding them, or telling the client where to go).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::LeaderClock;
use crate::config::{Config, FollowerMode};
use crate::membership;
use crate::mutation::{self, Mutation};
use crate::peer::client::{CallError, PeerPool};
use crate::peer::wire::{PeerRequest, PeerResponse};
use crate::proposer::{Outcome, Proposer};
use crate::query::{ReadAnswer, ReadQuery};
use crate::raft::log_store::LogStore;
use crate::raft::network::NetworkFactory;
use crate::raft::state_machine::{ApplyObserver, Deadlines, StateMachineStore};
use crate::raft::types::{LogId, NodeId, PeerNode, Raft};
use crate::sm::{Event, Millis, Op, Response};
use crate::ticker;
use crate::waiters::Waiters;

/// Why a write or read did not produce a state-machine answer.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum NodeError {
    /// Not applied (never appended, or cut from the log): safe to retry.
    #[error("CLUSTERDOWN {0}")]
    ClusterDown(String),
    /// Proposed, outcome unknown: it may or may not have applied.
    #[error("UNCERTAIN {0}")]
    Uncertain(String),
    /// `--follower-mode redirect`: the client should ask the leader at this address.
    #[error("MOVED {addr}")]
    Redirect { addr: String },
}

/// A write that has not committed in this long is reported as -UNCERTAIN.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A ReadIndex round that has not finished in this long is reported as -CLUSTERDOWN.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub sm: StateMachineStore,
    pub waiters: Arc<Waiters>,
    pub pool: Arc<PeerPool>,
    proposer: Proposer,
    pub(crate) deadlines: watch::Receiver<Deadlines>,
    follower_mode: FollowerMode,
    committed: Arc<AtomicU64>,
    /// Held for the node's lifetime: a second process on the same data dir would
    /// corrupt the log.
    _data_lock: std::fs::File,
    /// Where this node's stamps come from while it leads.
    time: Arc<Timekeeper>,
    /// The most recent leader this node knew of (0: none yet), for topology replies
    /// during an election.
    last_known_leader: AtomicU64,
}

/// Routes apply notifications to the waiters and the tick scheduler.
struct Observer {
    waiters: Arc<Waiters>,
    deadlines: watch::Sender<Deadlines>,
}

impl ApplyObserver for Observer {
    fn applied(&self, events: Vec<Event>, deadlines: Deadlines, _last_applied: Option<LogId>) {
        for e in &events {
            self.waiters.resolve(e);
        }
        self.deadlines.send_if_modified(|d| {
            let changed = *d != deadlines;
            *d = deadlines;
            changed
        });
    }
}

/// A local proposal or ReadIndex that found another node leading.
enum Local<T> {
    Done(Result<T, NodeError>),
    NotLeader(Option<PeerNode>),
}

impl Node {
    /// Opens storage, starts Raft and the peer listener, then forms or joins a cluster.
    pub async fn start(cfg: &Config) -> anyhow::Result<Arc<Node>> {
        let data_lock = lock_data_dir(&cfg.data_dir)?;
        let waiters = Arc::new(Waiters::default());
        let (dl_tx, dl_rx) = watch::channel(Deadlines::default());
        let observer = Arc::new(Observer {
            waiters: waiters.clone(),
            deadlines: dl_tx,
        });
        let log = LogStore::open(&cfg.data_dir.join("log"), cfg.wal_segment_bytes)?;
        let committed = log.committed_handle();
        let log_for_clock = log.clone();
        let sm = StateMachineStore::open(&cfg.data_dir.join("sm"), observer)?;
        let raft_config = openraft::Config {
            cluster_name: "fencepost".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms,
            election_timeout_max: cfg.election_timeout_ms * 2,
            // Entries hold batches; `snapshotter` below counts operations. This is only a
            // backstop for logs of many small entries.
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: 64,
            // Entries carry up to 512 operations, and openraft 0.9 gives every AppendEntries
            // only `heartbeat_interval` to finish: a catch-up RPC of hundreds of entries
            // (megabytes) would time out and be resent again and again.
            max_payload_entries: 8,
            ..Default::default()
        }
        .validate()?;
        let secret = cfg.cluster_secret.clone().unwrap_or_default().into_bytes();
        let tls = crate::peer::tls::PeerTls::from_config(cfg)?.map(Arc::new);
        let pool = Arc::new(PeerPool::new(cfg.node_id, &secret, tls.clone()));
        let network = NetworkFactory::new(cfg.node_id, pool.clone());
        let raft = Raft::new(cfg.node_id, Arc::new(raft_config), network, log, sm.clone()).await?;
        let time = Arc::new(Timekeeper {
            raft: raft.clone(),
            log: log_for_clock,
            sm: sm.clone(),
            clock: LeaderClock::default(),
            last_entry: std::sync::Mutex::new(Instant::now()),
        });
        let proposer = {
            let time = time.clone();
            Proposer::start(raft.clone(), cfg.node_id, Arc::new(move || time.stamp_entry()))
        };
        let node = Arc::new(Node {
            id: cfg.node_id,
            raft,
            sm,
            waiters,
            pool,
            proposer,
            deadlines: dl_rx,
            follower_mode: cfg.follower_mode,
            committed,
            _data_lock: data_lock,
            time,
            last_known_leader: AtomicU64::new(0),
        });
        let peers = TcpListener::bind(cfg.raft_addr()).await?;
        tokio::spawn(crate::peer::server::run(peers, node.clone(), Arc::new(secret), tls));
        membership::form_or_join(&node, cfg).await?;
        tokio::spawn(ticker::run(node.clone()));
        tokio::spawn(snapshotter(node.clone(), cfg.snapshot_every));
        Ok(node)
    }

    /// The cluster clock now (SPEC.md "Time"): the stamp this node would put on an entry
    /// while it leads; the state machine's time otherwise.
    pub fn stamp(&self) -> Millis {
        self.time.stamp()
    }

    /// How long since this node last stamped an entry (the log's clock lags the
    /// leader's by at most this much).
    pub fn since_last_entry(&self) -> Duration {
        self.time.since_last_entry()
    }

    /// Applies `op` through Raft wherever the leader is, and returns its answer.
    pub async fn write(&self, op: Op) -> Result<Response, NodeError> {
        self.ensure_member()?;
        match self.propose(op.clone()).await {
            Local::Done(r) => r,
            Local::NotLeader(leader) => {
                let addr = self.leader_route(leader)?;
                match self.pool.call(&addr, PeerRequest::Write(op), WRITE_TIMEOUT).await {
                    Ok(PeerResponse::Write(r)) => r,
                    Ok(_) => Err(NodeError::Uncertain("leader sent an unexpected reply".into())),
                    Err(CallError::NotSent(why)) => Err(NodeError::ClusterDown(format!("leader unreachable: {why}"))),
                    // It reached the leader (or may have): never resend on our own.
                    Err(e) => Err(NodeError::Uncertain(format!("forwarded write: {e}"))),
                }
            }
        }
    }

    /// A write forwarded by a follower: proposed here or refused, never forwarded again.
    pub async fn write_here(&self, op: Op) -> Result<Response, NodeError> {
        self.submit_here(op).await
    }

    /// Queues a forwarded write at once (keeping the order writes arrived in from the
    /// follower's connection) and returns the wait for its outcome.
    pub fn submit_here(
        &self,
        op: Op,
    ) -> impl std::future::Future<Output = Result<Response, NodeError>> + Send + 'static {
        let submitted = self.proposer.submit(op);
        async move {
            match submitted.wait().await {
                Outcome::Applied(r) => Ok(r),
                Outcome::NotLeader(_) => Err(NodeError::ClusterDown("not the leader".into())),
                Outcome::Failed(e) => Err(e),
            }
        }
    }

    /// Runs `q` linearizably wherever the leader is.
    pub async fn read(&self, q: ReadQuery) -> Result<ReadAnswer, NodeError> {
        self.ensure_member()?;
        if mutation::active(Mutation::FollowerLocalReads) && !self.is_leader() {
            let st = self.sm.read();
            return Ok(q.run(&st.sm, st.sm.now()));
        }
        match self.read_local(&q).await {
            Local::Done(r) => r,
            Local::NotLeader(leader) => {
                let addr = self.leader_route(leader)?;
                match self.pool.call(&addr, PeerRequest::Read(q), READ_TIMEOUT).await {
                    Ok(PeerResponse::Read(r)) => r,
                    Ok(_) => Err(NodeError::ClusterDown("leader sent an unexpected reply".into())),
                    // Reads change nothing: any failure is safe to retry.
                    Err(e) => Err(NodeError::ClusterDown(format!("forwarded read: {e}"))),
                }
            }
        }
    }

    /// A read forwarded by a follower.
    pub async fn read_here(&self, q: ReadQuery) -> Result<ReadAnswer, NodeError> {
        match self.read_local(&q).await {
            Local::Done(r) => r,
            Local::NotLeader(_) => Err(NodeError::ClusterDown("not the leader".into())),
        }
    }

    /// A node outside the membership (removed, or not yet joined) serves nothing:
    /// whatever it knows may be stale.
    fn ensure_member(&self) -> Result<(), NodeError> {
        let m = self.raft.metrics();
        let m = m.borrow();
        if m.membership_config.membership().get_node(&self.id).is_some() {
            Ok(())
        } else {
            Err(NodeError::ClusterDown(
                "this node is not a member of the cluster".into(),
            ))
        }
    }

    /// Where a follower sends a request: the leader's peer address (proxy mode), or
    /// the client is told the leader's client address (redirect mode).
    fn leader_route(&self, leader: Option<PeerNode>) -> Result<String, NodeError> {
        let Some(leader) = leader else {
            return Err(NodeError::ClusterDown("no leader".into()));
        };
        match self.follower_mode {
            FollowerMode::Redirect => Err(NodeError::Redirect { addr: leader.resp_addr }),
            FollowerMode::Proxy => Ok(leader.raft_addr),
        }
    }

    async fn propose(&self, op: Op) -> Local<Response> {
        if mutation::active(Mutation::AckBeforeCommit) && self.is_leader() {
            return Local::Done(Ok(self.acknowledge_early(op)));
        }
        match self.proposer.propose(op).await {
            Outcome::Applied(r) => Local::Done(Ok(r)),
            Outcome::NotLeader(leader) => Local::NotLeader(leader),
            Outcome::Failed(e) => Local::Done(Err(e)),
        }
    }

    /// The `early-ack` mutation: answers from a private copy of the state as if `op`
    /// had applied, and lets the real proposal finish (or fail) unobserved.
    fn acknowledge_early(&self, op: Op) -> Response {
        let time = self.stamp();
        let (mut sm, next) = {
            let st = self.sm.read();
            (st.sm.clone(), st.last_applied.map_or(1, |l| l.index + 1))
        };
        let answer = sm.apply(next, &crate::sm::Request { time, op: op.clone() }, &mut Vec::new());
        let submitted = self.proposer.submit(op);
        tokio::spawn(async move {
            submitted.wait().await;
        });
        answer
    }

    async fn read_local(&self, q: &ReadQuery) -> Local<ReadAnswer> {
        let down = |why: String| Local::Done(Err(NodeError::ClusterDown(why)));
        match tokio::time::timeout(READ_TIMEOUT, self.raft.ensure_linearizable()).await {
            Err(_) => return down("read could not confirm leadership in time".into()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                return Local::NotLeader(f.leader_node.filter(|_| f.leader_id.is_some_and(|l| l != self.id)))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_)))) => return down("no quorum".into()),
            Ok(Err(e)) => return down(e.to_string()),
            Ok(Ok(_)) => {}
        }
        let now = self.stamp();
        let st = self.sm.read();
        Local::Done(Ok(q.run(&st.sm, now)))
    }

    /// The current leader, or during an election the last one this node knew of.
    pub fn leader_or_last_known(&self) -> Option<NodeId> {
        if let Some(l) = self.raft.metrics().borrow().current_leader {
            self.last_known_leader.store(l, Ordering::Relaxed);
            return Some(l);
        }
        Some(self.last_known_leader.load(Ordering::Relaxed)).filter(|l| *l != 0)
    }

    /// Highest log index known committed on this node.
    pub fn committed_index(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Whether this node currently believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}

/// Builds a snapshot (which compacts the log) every `every` applied operations.
async fn snapshotter(node: Arc<Node>, every: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        if node.sm.ops_since_snapshot() < every {
            continue;
        }
        if let Err(e) = node.raft.trigger().snapshot().await {
            tracing::warn!(error = %e, "snapshot trigger failed");
            return;
        }
        // One at a time: wait until the build resets the count (or give up waiting).
        for _ in 0..300 {
            tick.tick().await;
            if node.sm.ops_since_snapshot() < every {
                break;
            }
        }
    }
}

/// What the leader's stamps are made of: its term (from Raft), the highest stamp in its
/// log when it took office, and its monotonic clock since (see `crate::clock`).
struct Timekeeper {
    raft: Raft,
    log: LogStore,
    sm: StateMachineStore,
    clock: LeaderClock,
    /// When the proposer last stamped an entry.
    last_entry: std::sync::Mutex<Instant>,
}

impl Timekeeper {
    /// The stamp for an entry about to be proposed.
    fn stamp_entry(&self) -> Millis {
        *self.last_entry.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.stamp()
    }

    fn since_last_entry(&self) -> Duration {
        self.last_entry.lock().unwrap_or_else(|p| p.into_inner()).elapsed()
    }

    fn stamp(&self) -> Millis {
        let applied = self.sm.read().sm.now();
        let (leading, term) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.state == ServerState::Leader, m.current_term)
        };
        if !leading {
            // Not (yet) seen as leader: a proposal stamped now is refused, or (in the
            // moment before the metrics catch up) holds the clock still. Neither runs
            // the clock ahead of the log.
            return applied;
        }
        self.clock
            .stamp(term, || applied.max(self.log.highest_stamp()))
            .max(applied)
    }
}

/// Takes an exclusive lock on `<data-dir>/LOCK`, or fails if another process has it.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(e) => anyhow::bail!(
            "data dir {} is in use by another fencepost process ({e})",
            dir.display()
        ),
    }
}
