//! One fencepost node: proposes writes (stamped with the leader's clock), serves
//! linearizable reads after ReadIndex, and proposes Tick entries when deadlines fall due.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use tokio::sync::watch;

use crate::config::Config;
use crate::raft::log_store::LogStore;
use crate::raft::network::NetworkFactory;
use crate::raft::state_machine::{ApplyObserver, Deadlines, StateMachineStore};
use crate::raft::types::{LogId, NodeId, PeerNode, Raft};
use crate::sm::{Event, Millis, Op, Request, Response, StateMachine};
use crate::waiters::Waiters;

/// Why a write or read did not produce a state-machine answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// Not applied (never appended, or cut from the log): safe to retry.
    #[error("CLUSTERDOWN {0}")]
    ClusterDown(String),
    /// Proposed, outcome unknown: it may or may not have applied.
    #[error("UNCERTAIN {0}")]
    Uncertain(String),
}

/// A write that has not committed in this long is reported as -UNCERTAIN.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A ReadIndex round that has not finished in this long is reported as -CLUSTERDOWN.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Forgetting expired objects is housekeeping: at most one GC tick per this interval.
const GC_TICK_INTERVAL_MS: Millis = 1_000;

pub struct Node {
    pub id: NodeId,
    pub raft: Raft,
    pub sm: StateMachineStore,
    pub waiters: Arc<Waiters>,
    deadlines: watch::Receiver<Deadlines>,
    committed: Arc<AtomicU64>,
    /// Held for the node's lifetime: a second process on the same data dir would
    /// corrupt the log.
    _data_lock: std::fs::File,
    /// Highest stamp this node has issued: stamps never go backwards.
    last_stamp: AtomicU64,
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

impl Node {
    /// Opens storage under the data dir, starts Raft, and forms a single-node cluster
    /// when this node has never been part of one.
    pub async fn start(cfg: &Config) -> anyhow::Result<Arc<Node>> {
        let data_lock = lock_data_dir(&cfg.data_dir)?;
        let waiters = Arc::new(Waiters::default());
        let (dl_tx, dl_rx) = watch::channel(Deadlines::default());
        let observer = Arc::new(Observer {
            waiters: waiters.clone(),
            deadlines: dl_tx,
        });
        let log = LogStore::open(&cfg.data_dir.join("log"))?;
        let committed = log.committed_handle();
        let sm = StateMachineStore::open(&cfg.data_dir.join("sm"), observer)?;
        let raft_config = openraft::Config {
            cluster_name: "fencepost".into(),
            heartbeat_interval: cfg.heartbeat_ms,
            election_timeout_min: cfg.election_timeout_ms,
            election_timeout_max: cfg.election_timeout_ms * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            max_in_snapshot_log_to_keep: 1_000,
            ..Default::default()
        }
        .validate()?;
        let raft = Raft::new(
            cfg.node_id,
            Arc::new(raft_config),
            NetworkFactory::new(),
            log,
            sm.clone(),
        )
        .await?;
        let node = Arc::new(Node {
            id: cfg.node_id,
            raft,
            sm,
            waiters,
            deadlines: dl_rx,
            committed,
            _data_lock: data_lock,
            last_stamp: AtomicU64::new(0),
        });
        if !node.raft.is_initialized().await? {
            let mut members = BTreeMap::new();
            members.insert(
                cfg.node_id,
                PeerNode {
                    raft_addr: cfg.raft_addr(),
                    resp_addr: cfg.resp_addr(),
                },
            );
            tracing::info!(node_id = cfg.node_id, "forming a single-node cluster");
            node.raft.initialize(members).await?;
        }
        tokio::spawn(run_ticker(node.clone()));
        Ok(node)
    }

    /// The leader's time for a new entry: wall clock, but never behind anything applied
    /// or stamped before (so time is monotonic across restarts and leader changes).
    pub fn stamp(&self) -> Millis {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let floor = self.sm.read().sm.now();
        let s = wall.max(floor);
        self.last_stamp.fetch_max(s, Ordering::SeqCst).max(s)
    }

    /// Proposes `op` and returns what the state machine answered once it applied.
    pub async fn write(&self, op: Op) -> Result<Response, NodeError> {
        let req = Request {
            time: self.stamp(),
            op,
        };
        match tokio::time::timeout(WRITE_TIMEOUT, self.raft.client_write(req)).await {
            Err(_) => Err(NodeError::Uncertain("timed out waiting for commit".into())),
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                // openraft sends this only for entries never appended here or cut from
                // the log by a newer leader: they can never commit.
                Err(NodeError::ClusterDown(match f.leader_id {
                    Some(l) => format!("not the leader (leader is node {l})"),
                    None => "no leader".into(),
                }))
            }
            Ok(Err(RaftError::APIError(e))) => Err(NodeError::ClusterDown(e.to_string())),
            Ok(Err(RaftError::Fatal(e))) => Err(NodeError::Uncertain(format!("raft stopped: {e}"))),
        }
    }

    /// Runs `f` on the state machine after ReadIndex confirms this node leads and has
    /// applied everything committed before the read began.
    pub async fn read<R>(
        &self,
        f: impl FnOnce(&StateMachine, Millis) -> R,
    ) -> Result<R, NodeError> {
        match tokio::time::timeout(READ_TIMEOUT, self.raft.ensure_linearizable()).await {
            Err(_) => {
                return Err(NodeError::ClusterDown(
                    "read could not confirm leadership in time".into(),
                ))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {
                return Err(NodeError::ClusterDown("not the leader".into()))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_)))) => {
                return Err(NodeError::ClusterDown("no quorum".into()))
            }
            Ok(Err(e)) => return Err(NodeError::ClusterDown(e.to_string())),
            Ok(Ok(_)) => {}
        }
        let now = self.stamp();
        let st = self.sm.read();
        Ok(f(&st.sm, now))
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

/// Proposes a Tick when a waiter deadline or a lock expiry with waiters falls due, and
/// (rate-limited) when expired objects can be forgotten. Only the leader proposes.
async fn run_ticker(node: Arc<Node>) {
    let mut deadlines = node.deadlines.clone();
    // Server metrics change on role changes only, not on every apply.
    let mut metrics = node.raft.server_metrics();
    let mut last_gc: Millis = 0;
    loop {
        let d = *deadlines.borrow_and_update();
        let gc_due = d.gc.map(|g| g.max(last_gc + GC_TICK_INTERVAL_MS));
        let target = match (d.waiter, gc_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let leader = metrics.borrow_and_update().state == ServerState::Leader;
        let wait = match target {
            Some(t) if leader => {
                let now = node.stamp();
                if t <= now {
                    if gc_due.is_some_and(|g| g <= now) {
                        last_gc = now;
                    }
                    if let Err(e) = node.write(Op::Tick).await {
                        tracing::debug!(error = %e, "tick not applied");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
                Duration::from_millis(t - now)
            }
            _ => Duration::from_secs(3600),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = deadlines.changed() => if r.is_err() { return },
            r = metrics.changed() => if r.is_err() { return },
        }
    }
}
