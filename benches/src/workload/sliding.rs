//! Sliding window: one exact RATELIMIT SLIDING decision per op, over the same 10,000
//! keys as the token bucket, so the two algorithms compare directly.

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Plan};
use crate::resp::{Conn, Reply};

/// Keys the clients spread over (as the token bucket's).
const KEYS: u64 = 10_000;
/// 100 calls per second per key: the target names limit 100.
const LIMIT: &[u8] = b"100";
const WINDOW_MS: &[u8] = b"1000";

/// `pipeline` decisions in one write; allowed and refused both count as ops.
pub async fn resp(plan: &Plan, conn: &mut Conn, rng: &mut SmallRng) -> Result<Batch> {
    for _ in 0..plan.pipeline {
        let key = format!("window:{}", rng.random_range(0..KEYS)).into_bytes();
        conn.push(&[b"RATELIMIT", b"SLIDING", &key, LIMIT, WINDOW_MS]);
    }
    conn.flush().await?;
    let mut out = Batch::default();
    for _ in 0..plan.pipeline {
        match conn.read().await? {
            Reply::Array(Some(v)) if v.len() == 5 && v.iter().all(|x| matches!(x, Reply::Int(_))) => out.ok += 1,
            r => out.fail(format!("sliding: {r:?}")),
        }
    }
    Ok(out)
}
