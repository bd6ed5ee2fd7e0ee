//! Contended hand-off: every client competes for the same 8 names, so throughput is
//! how fast a lock passes from one holder to the next.

use std::time::{Duration, Instant};

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Dialect, Plan};
use crate::etcd::Etcd;
use crate::resp::{Conn, Reply};

/// How many hot lock names the clients share.
const NAMES: u64 = 8;
/// Lease of a granted lock: the holder releases long before.
const TTL_MS: &[u8] = b"5000";
/// How long a client waits for its turn before giving up (counted as a failure).
const WAIT_MS: u64 = 10_000;
/// redis has no queue: a loser sleeps this long before trying again.
const REDIS_RETRY_SLEEP: Duration = Duration::from_millis(1);

fn hot_name(rng: &mut SmallRng) -> Vec<u8> {
    format!("hand-off:{}", rng.random_range(0..NAMES)).into_bytes()
}

/// One grant: acquire (waiting in line, or retrying for redis), then release.
pub async fn resp(plan: &Plan, conn: &mut Conn, owner: &[u8], rng: &mut SmallRng) -> Result<Batch> {
    let name = hot_name(rng);
    let mut out = Batch::default();
    let token = match plan.dialect {
        Dialect::Redis => {
            let deadline = Instant::now() + Duration::from_millis(WAIT_MS);
            loop {
                match conn.call(&[b"SET", &name, owner, b"NX", b"PX", TTL_MS]).await? {
                    Reply::Simple(s) if s == "OK" => break Vec::new(),
                    Reply::Bulk(None) if Instant::now() < deadline => tokio::time::sleep(REDIS_RETRY_SLEEP).await,
                    r => {
                        out.fail(format!("acquire: {r:?}"));
                        return Ok(out);
                    }
                }
            }
        }
        _ => {
            let wait = WAIT_MS.to_string();
            let r = conn
                .call(&[b"LOCK", b"ACQUIRE", &name, owner, TTL_MS, b"WAIT", wait.as_bytes()])
                .await?;
            match r {
                Reply::Int(t) if t > 0 => t.to_string().into_bytes(),
                r => {
                    out.fail(format!("acquire: {r:?}"));
                    return Ok(out);
                }
            }
        }
    };
    let r = match plan.dialect {
        Dialect::Redis => conn.call(&[b"EVALSHA", &plan.release_sha, b"1", &name, owner]).await?,
        _ => conn.call(&[b"LOCK", b"RELEASE", &name, owner, &token]).await?,
    };
    match r {
        Reply::Int(1) => out.ok += 1,
        r => out.fail(format!("release: {r:?}")),
    }
    Ok(out)
}

/// etcd: lock/lock blocks until the lock is ours (it queues by revision).
pub async fn etcd(etcd: &mut Etcd, lease: i64, rng: &mut SmallRng) -> Result<Batch> {
    let mut out = Batch::default();
    let name = hot_name(rng);
    let Some(key) = out.etcd_result("lock", etcd.lock(&name, lease).await)? else {
        return Ok(out);
    };
    if out.etcd_result("unlock", etcd.unlock(&key).await)?.is_some() {
        out.ok += 1;
    }
    Ok(out)
}
