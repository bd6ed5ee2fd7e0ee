//! Workloads: what the clients do, and which checkers judge the history. Each client
//! task is a `Worker`: one logical Jepsen process at a time (a new process number after
//! every indeterminate result), talking to one node (followers proxy to the leader).

pub mod acl;
pub mod bucket;
pub mod fifo;
pub mod ghost;
pub mod idemp;
pub mod lease;
pub mod lock;
pub mod lock_delay;
pub mod lock_fence;
pub mod lock_unfenced;
pub mod redis_data;
pub mod redis_lock;
pub mod rwlock;
pub mod semaphore;
pub mod sliding;
pub mod tokens;
pub mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checkers::{self, Report};
use crate::client::{Client, Outcome};
use crate::cluster::addr;
use crate::history::{s, Op, Proc, Recorder, Type, V};

/// The workloads, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Lock,
    Tokens,
    LockFence,
    LockUnfenced,
    Lease,
    Fifo,
    Bucket,
    Idemp,
    LockFenceAcl,
    Semaphore,
    Sliding,
    RedisLock,
    RedisData,
    Rwlock,
    LockDelay,
    Watch,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 16] = [
        Workload::Lock,
        Workload::Tokens,
        Workload::LockFence,
        Workload::LockUnfenced,
        Workload::Lease,
        Workload::Fifo,
        Workload::Bucket,
        Workload::Idemp,
        Workload::LockFenceAcl,
        Workload::Semaphore,
        Workload::Sliding,
        Workload::RedisLock,
        Workload::RedisData,
        Workload::Rwlock,
        Workload::LockDelay,
        Workload::Watch,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Lock => "lock",
            Workload::Tokens => "tokens",
            Workload::LockFence => "lock-fence",
            Workload::LockUnfenced => "lock-unfenced",
            Workload::Lease => "lease",
            Workload::Fifo => "fifo",
            Workload::Bucket => "bucket",
            Workload::Idemp => "idemp",
            Workload::LockFenceAcl => "lock-fence-acl",
            Workload::Semaphore => "semaphore",
            Workload::Sliding => "sliding",
            Workload::RedisLock => "redis-lock",
            Workload::RedisData => "redis-data",
            Workload::Rwlock => "rwlock",
            Workload::LockDelay => "lock-delay",
            Workload::Watch => "watch",
        }
    }

    /// Every command-line name, comma-separated (the `--workload` help).
    pub fn names() -> String {
        Workload::ALL.map(Workload::name).join(", ")
    }

    /// Parses a command-line name.
    pub fn parse(name: &str) -> anyhow::Result<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| anyhow::anyhow!("unknown workload {name:?}"))
    }

    /// The user the clients run as, if not the default one.
    pub fn user(self) -> Option<(String, String)> {
        match self {
            Workload::LockFenceAcl => Some((acl::USER.into(), acl::PASSWORD.into())),
            _ => None,
        }
    }

    /// Before the clients and the faults start: what the workload needs to exist.
    pub async fn setup(self, shared: Arc<Shared>) -> anyhow::Result<()> {
        match self {
            Workload::LockFenceAcl => acl::setup(shared).await,
            _ => Ok(()),
        }
    }

    /// Runs `concurrency` client tasks until the deadline.
    pub async fn clients(self, shared: Arc<Shared>) {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..shared.concurrency {
            let sh = shared.clone();
            tasks.spawn(async move {
                let worker = Worker::new(sh, w);
                match self {
                    Workload::Lock => lock::run(worker).await,
                    Workload::Tokens => tokens::run(worker).await,
                    Workload::LockFence => lock_fence::run(worker).await,
                    Workload::LockUnfenced => lock_unfenced::run(worker).await,
                    Workload::Lease => lease::run(worker).await,
                    Workload::Fifo => fifo::run(worker).await,
                    Workload::Bucket => bucket::run(worker).await,
                    Workload::Idemp => idemp::run(worker).await,
                    Workload::LockFenceAcl => lock_fence::run(worker).await,
                    Workload::Semaphore => semaphore::run(worker).await,
                    Workload::Sliding => sliding::run(worker).await,
                    Workload::RedisLock => redis_lock::run(worker).await,
                    Workload::RedisData => redis_data::run(worker).await,
                    Workload::Rwlock => rwlock::run(worker).await,
                    Workload::LockDelay => lock_delay::run(worker).await,
                    Workload::Watch => watch::run(worker).await,
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// After the heal: reads whatever the checkers need of the final state.
    pub async fn final_reads(self, shared: Arc<Shared>) {
        match self {
            Workload::LockFence | Workload::LockFenceAcl => lock_fence::final_reads(shared).await,
            Workload::LockUnfenced => lock_unfenced::final_reads(shared).await,
            _ => {}
        }
    }

    /// The checkers that judge this workload's history.
    pub fn check(self, ops: &[Op], budget: Duration) -> Vec<Report> {
        match self {
            Workload::Lock => vec![
                checkers::lock::check(ops, budget),
                checkers::tokens::check(ops),
                checkers::extend::check(ops),
            ],
            Workload::Tokens => vec![checkers::tokens::check(ops), checkers::idemp::check(ops)],
            Workload::LockFence => vec![
                checkers::fence::check(ops),
                checkers::tokens::check(ops),
                checkers::extend::check(ops),
            ],
            Workload::LockUnfenced => vec![checkers::register::check(ops)],
            Workload::Lease => vec![
                checkers::lease::check(ops),
                checkers::tokens::check(ops),
                checkers::extend::check(ops),
            ],
            Workload::Fifo => vec![
                checkers::fifo::check(ops),
                checkers::tokens::check(ops),
                checkers::waiter_cancel::check(ops),
            ],
            Workload::Bucket => vec![checkers::bucket::check(ops)],
            Workload::Idemp => vec![checkers::idemp::check(ops), checkers::tokens::check(ops)],
            Workload::LockFenceAcl => vec![
                checkers::fence::check(ops),
                checkers::tokens::check(ops),
                checkers::extend::check(ops),
                checkers::acl::check(ops),
            ],
            Workload::Semaphore => vec![checkers::semaphore::check(ops), checkers::tokens::check(ops)],
            Workload::Sliding => vec![checkers::sliding::check(ops)],
            Workload::RedisLock => vec![checkers::redis_lock::check(ops)],
            Workload::RedisData => vec![checkers::kv::check(ops, budget)],
            Workload::Rwlock => vec![checkers::rwlock::check(ops), checkers::tokens::check(ops)],
            Workload::LockDelay => vec![
                checkers::lock_delay::check(ops),
                checkers::lease::check(ops),
                checkers::tokens::check(ops),
                checkers::extend::check(ops),
            ],
            Workload::Watch => vec![
                checkers::watch::check(ops),
                checkers::lease::check(ops),
                checkers::tokens::check(ops),
            ],
        }
    }
}

/// What every client task shares.
pub struct Shared {
    pub recorder: Arc<Recorder>,
    pub deadline: Instant,
    pub nodes: usize,
    pub concurrency: usize,
    /// Pause between one worker's ops (concurrency / rate).
    pub interval: Duration,
    pub op_timeout: Duration,
    pub seed: u64,
    /// Ops left in the run's budget.
    pub ops_left: AtomicI64,
    next_process: AtomicU64,
    next_element: AtomicI64,
    /// `lock-unfenced`'s registers, inside the harness.
    pub registers: Mutex<HashMap<String, Vec<i64>>>,
    /// The (user, password) clients log in as; `None`: the default user.
    pub user: Option<(String, String)>,
}

impl Shared {
    /// State for one run.
    pub fn new(
        recorder: Arc<Recorder>,
        deadline: Instant,
        nodes: usize,
        concurrency: usize,
        rate: f64,
        seed: u64,
        max_ops: i64,
    ) -> Shared {
        let interval = Duration::from_secs_f64(concurrency as f64 / rate.max(0.1));
        Shared {
            recorder,
            deadline,
            nodes,
            concurrency,
            interval,
            op_timeout: Duration::from_millis(2500),
            seed,
            ops_left: AtomicI64::new(max_ops),
            next_process: AtomicU64::new(0),
            next_element: AtomicI64::new(1),
            registers: Mutex::new(HashMap::new()),
            user: None,
        }
    }

    /// The same state, with clients logging in as `user`.
    pub fn with_user(mut self, user: Option<(String, String)>) -> Shared {
        self.user = user;
        self
    }

    /// A fresh Jepsen process number.
    pub fn process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh element for the lock-set workloads.
    pub fn element(&self) -> i64 {
        self.next_element.fetch_add(1, Ordering::Relaxed)
    }
}

/// One client task.
pub struct Worker {
    pub shared: Arc<Shared>,
    pub w: usize,
    pub process: u64,
    pub client: Client,
    pub rng: StdRng,
    /// Ops sent since the last `pace`, so that pacing keeps to the op rate.
    sent: u32,
}

impl Worker {
    /// Worker `w`, talking to node `w % nodes + 1`.
    pub fn new(shared: Arc<Shared>, w: usize) -> Worker {
        let slot = w % shared.nodes + 1;
        let client = Client::as_user(addr(slot), shared.op_timeout, shared.user.clone());
        let process = shared.process();
        let rng = StdRng::seed_from_u64(shared.seed.wrapping_mul(1000).wrapping_add(w as u64));
        Worker {
            shared,
            w,
            process,
            client,
            rng,
            sent: 0,
        }
    }

    /// This worker's owner name (stable across its process numbers, so that a retried
    /// ACQUIRE is a same-owner re-acquire).
    pub fn owner(&self) -> String {
        format!("w{}", self.w)
    }

    /// Whether the run goes on (time and op budget).
    pub fn live(&self) -> bool {
        Instant::now() < self.shared.deadline && self.shared.ops_left.load(Ordering::Relaxed) > 0
    }

    /// Records the invocation of `f` and sends `args`.
    pub async fn call(&mut self, f: &'static str, req: &V, args: &[String]) -> Outcome {
        self.shared.ops_left.fetch_sub(1, Ordering::Relaxed);
        self.sent += 1;
        self.shared
            .recorder
            .record(Type::Invoke, Proc::Client(self.process), f, req.clone());
        self.client.call(args).await
    }

    /// Records the invocation of `f` and sends `args` through `client` instead of the
    /// worker's own (a blocking call needs a client whose timeout outlasts it).
    pub async fn call_via(&mut self, client: &mut Client, f: &'static str, req: &V, args: &[String]) -> Outcome {
        self.shared.ops_left.fetch_sub(1, Ordering::Relaxed);
        self.sent += 1;
        self.shared
            .recorder
            .record(Type::Invoke, Proc::Client(self.process), f, req.clone());
        client.call(args).await
    }

    /// Records a completion; after `:info` this worker continues as a new process.
    pub fn done(&mut self, typ: Type, f: &'static str, value: V) {
        self.shared.recorder.record(typ, Proc::Client(self.process), f, value);
        if typ == Type::Info {
            self.process = self.shared.process();
        }
    }

    /// Records the usual completion for outcomes a workload has no special reading of.
    pub fn done_other(&mut self, f: &'static str, req: &V, o: &Outcome) {
        match o {
            Outcome::Fail(e) => self.done(Type::Fail, f, req.with("error", s(e.clone()))),
            Outcome::Info(e) => self.done(Type::Info, f, req.with("error", s(e.clone()))),
            Outcome::Refused(code, msg) => self.done(Type::Fail, f, req.with("error", s(format!("{code} {msg}")))),
            Outcome::Ok(v) => self.done(Type::Info, f, req.with("error", s(format!("unexpected reply {v:?}")))),
        }
    }

    /// Waits about one interval per op sent since the last call (jittered), so the
    /// workers together keep to `--rate` ops per second; less if the deadline comes first.
    pub async fn pace(&mut self) {
        let base = self.shared.interval.as_secs_f64() * f64::from(self.sent.max(1));
        self.sent = 0;
        let d = Duration::from_secs_f64(base * self.rng.random_range(0.5..1.5));
        let left = self.shared.deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(d.min(left)).await;
    }

    /// Sleeps `d` (used for work and for pauses past a lease).
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Strings for a command line.
pub fn args(parts: &[&(dyn std::fmt::Display + Sync)]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}
