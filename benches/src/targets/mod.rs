//! Servers under test: started on loopback on free ports with temp data dirs, killed on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::resp::{Conn, Reply};
use crate::workload::Dialect;

/// A server configuration to measure (etcd goes here later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// redis-server, AOF with fsync before every reply: the durable baseline.
    RedisAlways,
    /// redis-server with no persistence: the in-memory ceiling.
    RedisNone,
    /// fencepost single node: Raft log fsynced before every reply.
    Fencepost,
}

impl TargetKind {
    /// Name used in tables, JSON and `--targets`.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::RedisAlways => "redis-always",
            TargetKind::RedisNone => "redis-none",
            TargetKind::Fencepost => "fencepost",
        }
    }

    /// Which command set the workloads speak to it.
    pub fn dialect(self) -> Dialect {
        match self {
            TargetKind::Fencepost => Dialect::Fencepost,
            TargetKind::RedisAlways | TargetKind::RedisNone => Dialect::Redis,
        }
    }
}

/// Where binaries and data dirs come from.
pub struct TargetOpts {
    /// The fencepost binary (needed only when fencepost is a target).
    pub fencepost_bin: Option<PathBuf>,
    /// The redis-server binary.
    pub redis_bin: String,
    /// Parent of the temp data dirs (default: the system temp dir); keep all targets on one filesystem.
    pub data_root: Option<PathBuf>,
}

/// A started server; the process is killed and its data dir removed on drop.
pub struct Running {
    /// Its RESP address.
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `kind` and returns once it answers (and, for fencepost, has a leader).
pub async fn start(kind: TargetKind, opts: &TargetOpts) -> Result<Running> {
    let dir = match &opts.data_root {
        Some(root) => tempfile::Builder::new()
            .prefix("fencepost-bench-")
            .tempdir_in(root)?,
        None => tempfile::Builder::new()
            .prefix("fencepost-bench-")
            .tempdir()?,
    };
    let port = free_port()?;
    let mut cmd = match kind {
        TargetKind::Fencepost => {
            let bin = opts
                .fencepost_bin
                .as_deref()
                .context("--fencepost-bin is required for target fencepost")?;
            let mut c = Command::new(bin);
            c.args([
                "--port",
                &port.to_string(),
                "--raft-port",
                &free_port()?.to_string(),
                "--data-dir",
            ])
            .arg(dir.path().join("data"));
            c
        }
        TargetKind::RedisAlways | TargetKind::RedisNone => {
            let mut c = Command::new(&opts.redis_bin);
            c.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
                .arg(dir.path());
            c.args(["--save", "", "--daemonize", "no", "--logfile", ""]);
            match kind {
                TargetKind::RedisAlways => {
                    c.args(["--appendonly", "yes", "--appendfsync", "always"])
                }
                _ => c.args(["--appendonly", "no"]),
            };
            c
        }
    };
    let log = dir.path().join("server.log");
    let out = std::fs::File::create(&log)?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let child = cmd
        .spawn()
        .with_context(|| format!("spawn {}", kind.name()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut running = Running {
        addr,
        child,
        log,
        _dir: dir,
    };
    wait_ready(kind, &mut running).await?;
    if kind.dialect() == Dialect::Redis {
        check_persistence(kind, addr).await?;
    }
    Ok(running)
}

/// Confirms redis really runs with the persistence the row claims (a silently ignored flag would flatter it).
async fn check_persistence(kind: TargetKind, addr: SocketAddr) -> Result<()> {
    let want: &[(&str, &str)] = match kind {
        TargetKind::RedisAlways => &[
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("save", ""),
        ],
        _ => &[("appendonly", "no"), ("save", "")],
    };
    let mut c = Conn::connect(addr).await?;
    for (key, value) in want {
        let got = match c.call(&[b"CONFIG", b"GET", key.as_bytes()]).await? {
            Reply::Array(Some(items)) => match items.as_slice() {
                [_, Reply::Bulk(Some(v))] => String::from_utf8_lossy(v).into_owned(),
                _ => bail!("CONFIG GET {key}: {items:?}"),
            },
            other => bail!("CONFIG GET {key}: {other:?}"),
        };
        if got != *value {
            bail!("{}: {key} is {got:?}, expected {value:?}", kind.name());
        }
    }
    Ok(())
}

/// Polls until the server answers PING (and a linearizable read, for fencepost).
async fn wait_ready(kind: TargetKind, r: &mut Running) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = r.child.try_wait()? {
            bail!(
                "{} exited during start-up ({status}):\n{}",
                kind.name(),
                tail(&r.log)
            );
        }
        if ready(kind, r.addr).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} not ready within 30 s:\n{}", kind.name(), tail(&r.log));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(kind: TargetKind, addr: SocketAddr) -> bool {
    let Ok(mut c) = Conn::connect(addr).await else {
        return false;
    };
    if !matches!(c.call(&[b"PING"]).await, Ok(Reply::Simple(ref s)) if s == "PONG") {
        return false;
    }
    match kind {
        // PONG comes before the single-node election ends; a ReadIndex read needs a leader.
        TargetKind::Fencepost => {
            matches!(c.call(&[b"LOCK", b"INFO", b"bench-probe"]).await, Ok(r) if !matches!(r, Reply::Error(_)))
        }
        _ => true,
    }
}

/// Last lines of a server's log, for start-up failures.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Makes sure redis-server runs, installing Debian's package when it is missing.
pub fn ensure_redis(bin: &str) -> Result<String> {
    if let Some(v) = redis_version(bin) {
        return Ok(v);
    }
    if bin != "redis-server" {
        bail!("{bin} does not run");
    }
    eprintln!("redis-server not found: installing it with apt-get");
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "redis-server"][..],
    ] {
        let ok = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("run apt-get")?
            .success();
        if !ok {
            bail!("apt-get {} failed", args.join(" "));
        }
    }
    redis_version(bin).context("redis-server still does not run after apt-get install")
}

fn redis_version(bin: &str) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
