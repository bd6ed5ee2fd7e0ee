//! One fencepost node: proposes writes stamped with the leader's clock, serves
//! linearizable reads after ReadIndex, and routes both to the leader when it is a
//! follower (`forward`: forwarding them, or telling the client where to go). It owns
//! its tasks (`tasks`), which all end on one token at shutdown.

mod backup;
mod forward;
mod serve;
mod tasks;
mod ticker;
mod time;
mod wal_role;

pub use forward::{READ_TIMEOUT, WRITE_TIMEOUT};

use openraft::async_runtime::watch::WatchReceiver;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;
use openraft::{ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
pub use crate::error::NodeError;
use crate::membership::{self, Membership};
use crate::mutation::{self, Mutation};
use crate::peer::client::PeerPool;
use crate::peer::wire::{AdminOp, PeerRequest, PeerResponse};
use crate::proposer::{Outcome, Proposer};
use crate::query::{ReadAnswer, ReadQuery};
use crate::raft::log_store::LogStore;
use crate::raft::log_writer::WalWriter;
use crate::raft::network::NetworkFactory;
use crate::raft::state_machine::{ApplyObserver, Deadlines, StateMachineStore};
use crate::raft::types::{LogId, NodeId, PeerNode, Raft};
use crate::sm::{Event, Millis, Op, Response};

use crate::waiters::Waiters;
use forward::{Effect, Forwarder, Origin};
use tasks::Tasks;
use time::Timekeeper;

/// How long a client's request is retried while it is not applied for want of a
/// leader (a transfer or an election settling) before -CLUSTERDOWN is answered.
const LEADER_CHANGE_GRACE: Duration = Duration::from_millis(1500);
/// How long a leader shutting down waits for its successor to take over.
const STEP_DOWN_GRACE: Duration = Duration::from_secs(3);
/// How long shutdown waits for the node's tasks to let go before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub sm: StateMachineStore,
    pub waiters: Arc<Waiters>,
    pub pool: Arc<PeerPool>,
    /// Peer mutual TLS, when configured: SIGHUP reloads it.
    pub peer_tls: Option<Arc<crate::peer::tls::PeerTls>>,
    proposer: Proposer,
    pub(crate) deadlines: watch::Receiver<Deadlines>,
    /// The last applied index, for LOCK WATCH: it looks again only when it moves.
    applied: watch::Receiver<u64>,
    forwarder: Forwarder,
    membership: Membership,
    tasks: Tasks,
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
    applied: watch::Sender<u64>,
}

impl ApplyObserver for Observer {
    fn applied(&self, events: Vec<Event>, deadlines: Deadlines, last_applied: Option<LogId>) {
        for e in &events {
            self.waiters.resolve(e);
        }
        if let Some(l) = last_applied {
            // Cheap with no receiver; a watcher wakes once per batch, not per entry.
            self.applied.send_replace(l.index);
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
        let (applied_tx, applied_rx) = watch::channel(0);
        let observer = Arc::new(Observer {
            waiters: waiters.clone(),
            deadlines: dl_tx,
            applied: applied_tx,
        });
        let log = LogStore::open(&cfg.data_dir.join("log"), cfg.wal_segment_bytes, cfg.wal_writer)?;
        let committed = log.committed_handle();
        let log_for_clock = log.clone();
        let log_for_role = log.clone();
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
            // Entries carry up to 512 operations each: a catch-up AppendEntries of a few
            // entries stays a few hundred kilobytes, and the pipeline keeps many in flight.
            max_payload_entries: 8,
            // Replicate an entry as soon as the leader has queued it for its WAL: the
            // leader's fsync then overlaps the followers' instead of preceding them.
            broadcast_submitted_on_append: Some(true),
            // A node cut off for a while must not disrupt the cluster when it returns.
            enable_pre_vote: Some(true),
            // A restarted leader must win a new term, and commit its blank entry in it,
            // before it serves anything. openraft's default lets it resume its old term at
            // once; it then knows only the commit point its snapshot holds, and answered
            // linearizable reads from a state missing acknowledged writes. The fault
            // harness found it; this test keeps it found:
            // `cluster.rs::whole_cluster_restart_reads_see_every_acknowledged_write`.
            // With `broadcast_submitted_on_append` its log could also lack entries its
            // followers hold in that same term.
            enable_leader_restore: Some(mutation::active(Mutation::LeaderRestore)),
            ..Default::default()
        }
        .validate()?;
        let secret = cfg.cluster_secret.clone().unwrap_or_default().into_bytes();
        let tls = crate::peer::tls::PeerTls::from_config(cfg)?.map(Arc::new);
        let pool = Arc::new(PeerPool::new(cfg.node_id, &secret, tls.clone()));
        let peer_tls = tls.clone();
        let network = NetworkFactory::new(cfg.node_id, pool.clone());
        let raft = Raft::new(cfg.node_id, Arc::new(raft_config), network, log, sm.clone()).await?;
        let time = Arc::new(Timekeeper::new(raft.clone(), log_for_clock, sm.clone()));
        let proposer = {
            let time = time.clone();
            Proposer::start(
                raft.clone(),
                cfg.node_id,
                cfg.batches_in_flight,
                Arc::new(move || time.stamp_entry()),
            )
        };
        let node = Arc::new(Node {
            id: cfg.node_id,
            sm,
            waiters,
            pool: pool.clone(),
            peer_tls,
            proposer,
            deadlines: dl_rx,
            applied: applied_rx,
            forwarder: Forwarder::new(pool.clone(), cfg.follower_mode),
            membership: Membership::new(cfg.node_id, raft.clone(), pool),
            raft,
            tasks: Tasks::default(),
            committed,
            _data_lock: data_lock,
            time,
            last_known_leader: AtomicU64::new(0),
        });
        // On the bind address, like the client port: the advertised host is what others
        // dial, and may be a name or an address that is not this host's own (NAT).
        let peers = TcpListener::bind((cfg.bind, cfg.raft_port())).await?;
        let stop = node.tasks.token();
        node.spawn(crate::peer::server::run(
            peers,
            node.clone(),
            Arc::new(secret),
            tls,
            stop,
        ));
        if let Some(join) = membership::form_or_join(&node.raft, cfg).await? {
            node.spawn(join);
        }
        node.spawn(ticker::run(node.clone()));
        if cfg.wal_writer == WalWriter::Auto {
            node.spawn(wal_role::follow_role(node.raft.clone(), log_for_role));
        }
        node.spawn(snapshotter(node.clone(), cfg.snapshot_every));
        Ok(node)
    }

    /// Runs `fut` as one of the node's tasks: it ends at the latest when the node shuts down.
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(fut);
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
        self.write_from(op, Origin::Client).await
    }

    /// Applies `op` only if this node leads (the ticker's own entries).
    pub(crate) async fn write_here(&self, op: Op) -> Result<Response, NodeError> {
        self.write_from(op, Origin::Forwarded).await
    }

    async fn write_from(&self, op: Op, origin: Origin) -> Result<Response, NodeError> {
        let result = self
            .retry_not_applied(origin, || self.write_once(op.clone(), origin))
            .await;
        use crate::metrics::{Proposal, METRICS};
        match &result {
            Err(NodeError::ClusterDown(_)) => METRICS.proposal(Proposal::ClusterDown),
            Err(NodeError::Uncertain(_)) => METRICS.proposal(Proposal::Uncertain),
            Ok(_) => METRICS.proposal(Proposal::Ok),
            Err(_) => {}
        }
        result
    }

    /// Runs `attempt` again while it answers -CLUSTERDOWN (not applied, so safe to
    /// retry) and leadership may be moving: a transfer or an election takes a moment,
    /// and a client of this node should not see it. Only for this node's own clients:
    /// forwarded requests are retried by the node that forwarded them.
    async fn retry_not_applied<T, F, Fut>(&self, origin: Origin, mut attempt: F) -> Result<T, NodeError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, NodeError>>,
    {
        let give_up = tokio::time::Instant::now() + LEADER_CHANGE_GRACE;
        loop {
            match attempt().await {
                Err(NodeError::ClusterDown(why))
                    if origin == Origin::Client && tokio::time::Instant::now() < give_up =>
                {
                    tracing::debug!(why = %why, "not applied; retrying while leadership settles");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    async fn write_once(&self, op: Op, origin: Origin) -> Result<Response, NodeError> {
        let leader = match self.propose(op.clone()).await {
            Local::Done(r) => return r,
            Local::NotLeader(leader) => leader,
        };
        match self
            .forwarder
            .to_leader(origin, leader, PeerRequest::Write(op), Effect::Write)
            .await?
        {
            PeerResponse::Write(r) => r.map_err(Into::into),
            _ => Err(NodeError::Uncertain("leader sent an unexpected reply".into())),
        }
    }

    /// Runs `q` linearizably wherever the leader is.
    pub async fn read(&self, q: ReadQuery) -> Result<ReadAnswer, NodeError> {
        self.ensure_member()?;
        if mutation::active(Mutation::FollowerLocalReads) && !self.is_leader() {
            let st = self.sm.read();
            return Ok(q.run(&st.sm, st.sm.now()));
        }
        self.read_from(q, Origin::Client).await
    }

    /// A receiver that changes whenever this node applies entries.
    pub fn applied_changes(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// LOCK INFO from this node's own applied state, at its last applied stamp: never
    /// ahead of the cluster, possibly behind it (LOCK WATCH only uses it to notice
    /// changes that have certainly happened).
    pub fn local_lock_info(&self, name: &[u8]) -> Result<Option<crate::sm::LockView>, crate::sm::WrongType> {
        let st = self.sm.read();
        st.sm.lock_info(name, st.sm.now())
    }

    async fn read_from(&self, q: ReadQuery, origin: Origin) -> Result<ReadAnswer, NodeError> {
        self.retry_not_applied(origin, || self.read_once(q.clone(), origin))
            .await
    }

    async fn read_once(&self, q: ReadQuery, origin: Origin) -> Result<ReadAnswer, NodeError> {
        let leader = match self.read_local(&q).await {
            Local::Done(r) => return r,
            Local::NotLeader(leader) => leader,
        };
        match self
            .forwarder
            .to_leader(origin, leader, PeerRequest::Read(q), Effect::Read)
            .await?
        {
            PeerResponse::Read(r) => r.map_err(Into::into),
            _ => Err(NodeError::ClusterDown("leader sent an unexpected reply".into())),
        }
    }

    /// Runs a membership operation (RAFT ADD / REMOVE) on the leader, wherever it is.
    pub async fn admin(&self, op: AdminOp) -> Result<String, String> {
        self.admin_from(op, Origin::Client).await
    }

    async fn admin_from(&self, op: AdminOp, origin: Origin) -> Result<String, String> {
        let leader = {
            let m = self.raft.metrics();
            let m = m.borrow_watched();
            match m.current_leader {
                Some(l) if l == self.id => None,
                Some(l) => Some(m.membership_config.membership().get_node(&l).cloned()),
                None => Some(None),
            }
        };
        let Some(leader) = leader else {
            return self.membership.execute(op).await;
        };
        match self
            .forwarder
            .to_leader(origin, leader, PeerRequest::Admin(op), Effect::Admin)
            .await
        {
            Ok(PeerResponse::Admin(r)) => r,
            Ok(_) => Err("UNCERTAIN unexpected peer reply".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// RAFT TRANSFER: makes node `to` the leader (see `Membership::transfer_to`).
    pub async fn transfer_to(&self, to: NodeId) -> Result<String, String> {
        self.membership.transfer_to(to).await
    }

    /// A node outside the membership (removed, or not yet joined) serves nothing:
    /// whatever it knows may be stale.
    fn ensure_member(&self) -> Result<(), NodeError> {
        let m = self.raft.metrics();
        let m = m.borrow_watched();
        if m.membership_config.membership().get_node(&self.id).is_some() {
            Ok(())
        } else {
            Err(NodeError::ClusterDown(
                "this node is not a member of the cluster".into(),
            ))
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
            (st.sm.clone(), st.last_applied.as_ref().map_or(1, |l| l.index + 1))
        };
        let answer = sm.apply(next, &crate::sm::Request { time, op: op.clone() }, &mut Vec::new());
        let submitted = self.proposer.submit(op);
        self.spawn(async move {
            submitted.wait().await;
        });
        answer
    }

    async fn read_local(&self, q: &ReadQuery) -> Local<ReadAnswer> {
        let down = |why: String| Local::Done(Err(NodeError::ClusterDown(why)));
        let confirm = self.raft.ensure_linearizable(ReadPolicy::ReadIndex);
        match tokio::time::timeout(READ_TIMEOUT, confirm).await {
            Err(_) => return down("read could not confirm leadership in time".into()),
            Ok(Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f)))) => {
                return Local::NotLeader(f.leader_node.filter(|_| f.leader_id.is_some_and(|l| l != self.id)))
            }
            Ok(Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(_)))) => return down("no quorum".into()),
            Ok(Err(e)) => return down(e.to_string()),
            Ok(Ok(_)) => {}
        }
        let now = self.time.read_time();
        let st = self.sm.read();
        if matches!(q, ReadQuery::Barrier) {
            // The answer is where this leader's state stands, which the query alone
            // cannot see.
            return Local::Done(Ok(ReadAnswer::Barrier(st.last_applied.map_or(0, |l| l.index))));
        }
        Local::Done(Ok(q.run(&st.sm, now)))
    }

    /// The current leader, or during an election the last one this node knew of.
    pub fn leader_or_last_known(&self) -> Option<NodeId> {
        if let Some(l) = self.raft.metrics().borrow_watched().current_leader {
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
        self.raft.metrics().borrow_watched().state == ServerState::Leader
    }

    /// Hands leadership over (when leading), ends every task the node owns
    /// (connections included), then stops Raft.
    pub async fn shutdown(&self) {
        self.membership.step_down(STEP_DOWN_GRACE).await;
        self.tasks.stop(SHUTDOWN_GRACE).await;
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
