//! Uncontended semaphore cycle: one permit of a fresh bulkhead name, then its release;
//! the same two round trips as the lock cycle, so the two compare directly.

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Plan};
use crate::resp::{Conn, Reply};

/// Lease and limit of each permit; the lease never expires inside a cycle.
const TTL_MS: &[u8] = b"10000";
const LIMIT: &[u8] = b"10";

/// `pipeline` acquires in one write, then the releases of those granted in a second.
pub async fn resp(plan: &Plan, conn: &mut Conn, holder: &[u8], rng: &mut SmallRng) -> Result<Batch> {
    let names: Vec<Vec<u8>> = (0..plan.pipeline)
        .map(|_| format!("sem:{}", rng.random::<u64>()).into_bytes())
        .collect();
    for n in &names {
        conn.push(&[b"SEMAPHORE", b"ACQUIRE", n, holder, LIMIT, TTL_MS]);
    }
    conn.flush().await?;
    let mut out = Batch::default();
    let mut held: Vec<(&[u8], Vec<u8>)> = Vec::with_capacity(names.len());
    for n in &names {
        match conn.read().await? {
            Reply::Int(t) if t > 0 => held.push((n, t.to_string().into_bytes())),
            r => out.fail(format!("acquire: {r:?}")),
        }
    }
    for (n, token) in &held {
        conn.push(&[b"SEMAPHORE", b"RELEASE", n, holder, token]);
    }
    if held.is_empty() {
        return Ok(out);
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
