//! Servers under test: started on loopback on free ports with temp data dirs, killed on drop.

mod etcd;
mod fencepost;
pub use fencepost::{int_field, raft_info};
mod redis;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::resp::Security;
use crate::workload::Dialect;

/// A server configuration to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// fencepost as a single node: Raft log fsynced before every reply.
    #[value(name = "fencepost-1")]
    Fencepost1,
    /// fencepost as a 3-node cluster on loopback: fsynced on a majority before every reply.
    #[value(name = "fencepost-3")]
    Fencepost3,
    /// The same 3-node cluster driven with plain Redis commands and Lua scripts (SET NX
    /// PX + EVALSHA release, ...), as an unchanged Redis library would.
    #[value(name = "fencepost-3-redis")]
    Fencepost3Redis,
    /// The 3-node cluster over client TLS (1.3), every client logged in as an ACL user
    /// limited to the workloads' key patterns and fencepost's own command categories.
    #[value(name = "fencepost-3-tls-acl")]
    Fencepost3TlsAcl,
    /// The 3-node cluster with `--metrics-addr` on every node and a scraper reading
    /// `/metrics` once a second, as Prometheus would.
    #[value(name = "fencepost-3-metrics")]
    Fencepost3Metrics,
    /// redis-server, AOF with fsync before every reply: the durable single-node baseline.
    RedisAlways,
    /// redis-server with no persistence: the in-memory ceiling.
    RedisNone,
    /// etcd as a 3-member cluster on loopback: the usual replicated lock service.
    #[value(name = "etcd-3")]
    Etcd3,
}

impl TargetKind {
    /// Every target, in the order the report lists them.
    pub const ALL: [TargetKind; 5] = [
        TargetKind::Fencepost1,
        TargetKind::Fencepost3,
        TargetKind::RedisAlways,
        TargetKind::RedisNone,
        TargetKind::Etcd3,
    ];

    /// Name used in tables, JSON and `--targets`.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Fencepost1 => "fencepost-1",
            TargetKind::Fencepost3 => "fencepost-3",
            TargetKind::Fencepost3Redis => "fencepost-3-redis",
            TargetKind::Fencepost3TlsAcl => "fencepost-3-tls-acl",
            TargetKind::Fencepost3Metrics => "fencepost-3-metrics",
            TargetKind::RedisAlways => "redis-always",
            TargetKind::RedisNone => "redis-none",
            TargetKind::Etcd3 => "etcd-3",
        }
    }

    /// Which command set the workloads speak to it.
    pub fn dialect(self) -> Dialect {
        match self {
            TargetKind::Fencepost1
            | TargetKind::Fencepost3
            | TargetKind::Fencepost3TlsAcl
            | TargetKind::Fencepost3Metrics => Dialect::Fencepost,
            TargetKind::RedisAlways | TargetKind::RedisNone | TargetKind::Fencepost3Redis => Dialect::Redis,
            TargetKind::Etcd3 => Dialect::Etcd,
        }
    }
}

/// Where binaries and data dirs come from.
pub struct TargetOpts {
    /// The fencepost binary (needed only when fencepost is a target).
    pub fencepost_bin: Option<PathBuf>,
    /// The redis-server binary.
    pub redis_bin: String,
    /// The etcd binary.
    pub etcd_bin: String,
    /// Parent of the temp data dirs (default: the system temp dir); keep all targets on one filesystem.
    pub data_root: Option<PathBuf>,
    /// Appended to every fencepost node's command line (`--fencepost-args`).
    pub fencepost_args: Vec<String>,
}

/// One server process; killed on drop.
pub struct Proc {
    /// `node-1` etc., for the memory report.
    pub name: String,
    /// Its client address (RESP, or etcd's client URL).
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr going to `log`.
    fn spawn(name: &str, addr: SocketAddr, mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let out = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = cmd.spawn().with_context(|| format!("spawn {name}"))?;
        Ok(Proc {
            name: name.to_string(),
            addr,
            child,
            log,
        })
    }

    /// Its process id, for /proc/<pid>/status.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the log's tail if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); its log ends:\n{}", self.name, tail(&self.log));
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A started target: its processes, and the address clients use (the leader's).
pub struct Running {
    /// Which target this is.
    pub kind: TargetKind,
    /// Where clients connect: the leader's client address for clusters.
    pub addr: SocketAddr,
    /// Every server process (declared before `_dir` so they die before it is removed).
    pub procs: Vec<Proc>,
    /// How clients connect (TLS and a user for `fencepost-3-tls-acl`).
    pub security: Security,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Re-reads which node leads (clusters only) and points `addr` at it; returns the old and
    /// new addresses when leadership moved. Without a known leader, `addr` stays as it was.
    pub async fn refresh_leader(&mut self) -> Option<(SocketAddr, SocketAddr)> {
        let addrs: Vec<SocketAddr> = self.procs.iter().map(|p| p.addr).collect();
        let now = match self.kind {
            TargetKind::Fencepost3
            | TargetKind::Fencepost3Redis
            | TargetKind::Fencepost3TlsAcl
            | TargetKind::Fencepost3Metrics => fencepost::leader_among(&addrs).await,
            TargetKind::Etcd3 => etcd::leader_of(&addrs).await,
            _ => None,
        }?;
        if now == self.addr || !addrs.contains(&now) {
            return None;
        }
        let old = std::mem::replace(&mut self.addr, now);
        Some((old, now))
    }

    /// Each process's (CPU seconds, context switches) so far, in `procs` order.
    pub fn usage(&self) -> Vec<(f64, u64)> {
        self.procs
            .iter()
            .map(|p| (proc_cpu_seconds(p.pid()), proc_context_switches(p.pid())))
            .collect()
    }

    /// Fails if any process of the target has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        self.procs.iter_mut().try_for_each(Proc::check_alive)
    }
}

/// utime + stime of process `pid` from /proc/<pid>/stat (0 when it cannot be read).
fn proc_cpu_seconds(pid: u32) -> f64 {
    // Linux reports both in clock ticks of USER_HZ, which is 100 on every kernel built
    // for x86_64 and arm64.
    const TICKS_PER_SEC: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces: fields are counted after its ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / TICKS_PER_SEC
}

/// Voluntary plus involuntary context switches of every thread of process `pid` (0 when
/// it cannot be read): each is a thread that slept and was woken, the cost issue 19
/// measures per request.
fn proc_context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// A port nobody listens on right now (another process may take it before we do; rare on loopback).
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Starts `kind` and returns once it serves linearizable requests through its leader.
pub async fn start(kind: TargetKind, opts: &TargetOpts) -> Result<Running> {
    let dir = match &opts.data_root {
        Some(root) => tempfile::Builder::new().prefix("fencepost-bench-").tempdir_in(root)?,
        None => tempfile::Builder::new().prefix("fencepost-bench-").tempdir()?,
    };
    let mut procs = Vec::new();
    let mut security = Security::default();
    let started = match kind {
        TargetKind::Fencepost3TlsAcl => {
            fencepost::start_secure(3, opts, dir.path(), &mut procs)
                .await
                .map(|(addr, sec)| {
                    security = sec;
                    addr
                })
        }
        TargetKind::Fencepost3Metrics => fencepost::start_scraped(3, opts, dir.path(), &mut procs).await,
        TargetKind::Fencepost1 => fencepost::start(1, opts, dir.path(), &mut procs).await,
        TargetKind::Fencepost3 | TargetKind::Fencepost3Redis => fencepost::start(3, opts, dir.path(), &mut procs).await,
        TargetKind::RedisAlways | TargetKind::RedisNone => redis::start(kind, opts, dir.path(), &mut procs).await,
        TargetKind::Etcd3 => etcd::start(3, opts, dir.path(), &mut procs).await,
    };
    // On failure `procs` drops here and kills whatever did start.
    let addr = started.with_context(|| format!("start {}", kind.name()))?;
    Ok(Running {
        kind,
        addr,
        procs,
        security,
        _dir: dir,
    })
}

/// Polls `probe` every 50 ms until it yields a value, a process exits, or `limit` passes.
async fn wait_for<T, F, Fut>(procs: &mut [Proc], limit: Duration, what: &str, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        procs.iter_mut().try_for_each(Proc::check_alive)?;
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = procs
                .iter()
                .map(|p| format!("--- {} ---\n{}", p.name, tail(&p.log)))
                .collect();
            bail!("{what} not within {limit:?}:\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Last lines of a server's log, for start-up failures.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
