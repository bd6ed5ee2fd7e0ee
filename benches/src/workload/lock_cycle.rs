//! Uncontended lock cycle: acquire a fresh name, release it.

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Dialect, Plan};
use crate::etcd::Etcd;
use crate::resp::{Conn, Reply};

/// Lease used by the lock cycle; long enough never to expire inside a cycle.
const LOCK_TTL_MS: &[u8] = b"10000";

/// A name from a 64-bit space: collisions (and so contention) practically never happen.
fn fresh_name(rng: &mut SmallRng) -> Vec<u8> {
    format!("lock:{}", rng.random::<u64>()).into_bytes()
}

/// `pipeline` acquires in one write, then the releases of those granted in a second.
pub async fn resp(plan: &Plan, conn: &mut Conn, owner: &[u8], rng: &mut SmallRng) -> Result<Batch> {
    let names: Vec<Vec<u8>> = (0..plan.pipeline).map(|_| fresh_name(rng)).collect();
    for n in &names {
        match plan.dialect {
            Dialect::Redis => conn.push(&[b"SET", n, owner, b"NX", b"PX", LOCK_TTL_MS]),
            _ => conn.push(&[b"LOCK", b"ACQUIRE", n, owner, LOCK_TTL_MS]),
        }
    }
    conn.flush().await?;
    let mut out = Batch::default();
    // Each granted name with what its release must present (the token for fencepost).
    let mut held: Vec<(&[u8], Vec<u8>)> = Vec::with_capacity(names.len());
    for n in &names {
        match (plan.dialect, conn.read().await?) {
            (Dialect::Fencepost, Reply::Int(t)) if t > 0 => held.push((n, t.to_string().into_bytes())),
            (Dialect::Redis, Reply::Simple(s)) if s == "OK" => held.push((n, Vec::new())),
            (_, r) => out.fail(format!("acquire: {r:?}")),
        }
    }
    if held.is_empty() {
        return Ok(out);
    }
    for (n, token) in &held {
        match plan.dialect {
            Dialect::Redis => conn.push(&[b"EVALSHA", &plan.release_sha, b"1", n, owner]),
            _ => conn.push(&[b"LOCK", b"RELEASE", n, owner, token]),
        }
    }
    conn.flush().await?;
    for _ in &held {
        match conn.read().await? {
            Reply::Int(1) => out.ok += 1,
            r => out.fail(format!("release: {r:?}")),
        }
    }
    Ok(out)
}

/// etcd's lock service: lock under the client's lease, then unlock by the returned key.
pub async fn etcd(etcd: &mut Etcd, lease: i64, rng: &mut SmallRng) -> Result<Batch> {
    let mut out = Batch::default();
    let name = fresh_name(rng);
    let Some(key) = out.etcd_result("lock", etcd.lock(&name, lease).await)? else {
        return Ok(out);
    };
    if out.etcd_result("unlock", etcd.unlock(&key).await)?.is_some() {
        out.ok += 1;
    }
    Ok(out)
}
