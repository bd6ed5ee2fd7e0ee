//! redis-server, with AOF fsync on every write or with no persistence at all.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

use super::{free_port, loopback, wait_for, Proc, TargetKind, TargetOpts};
use crate::resp::{Conn, Reply};

/// Starts one redis-server and checks that it runs with the persistence its name claims.
pub async fn start(kind: TargetKind, opts: &TargetOpts, dir: &Path, procs: &mut Vec<Proc>) -> Result<SocketAddr> {
    let port = free_port()?;
    let mut c = Command::new(&opts.redis_bin);
    c.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir);
    c.args(["--save", "", "--daemonize", "no", "--logfile", ""]);
    match kind {
        TargetKind::RedisAlways => c.args(["--appendonly", "yes", "--appendfsync", "always"]),
        _ => c.args(["--appendonly", "no"]),
    };
    let addr = loopback(port);
    procs.push(Proc::spawn("redis", addr, c, dir.join("redis.log"))?);
    wait_for(procs, Duration::from_secs(30), "redis PONG", || async move {
        let mut c = Conn::connect(addr).await.ok()?;
        matches!(c.call(&[b"PING"]).await, Ok(Reply::Simple(ref s)) if s == "PONG").then_some(())
    })
    .await?;
    check_persistence(kind, addr).await?;
    Ok(addr)
}

/// Confirms redis really runs with the persistence the row claims (a silently ignored flag would flatter it).
async fn check_persistence(kind: TargetKind, addr: SocketAddr) -> Result<()> {
    let want: &[(&str, &str)] = match kind {
        TargetKind::RedisAlways => &[("appendonly", "yes"), ("appendfsync", "always"), ("save", "")],
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
