//! Token bucket: one rate-limit decision per op. Allowed and refused decisions both count
//! as ops; with these parameters nearly every call is allowed, as in a healthy service.

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Dialect, Plan};
use crate::resp::{Conn, Reply};

/// Buckets the clients spread over.
const KEYS: u64 = 10_000;
/// Capacity, refill tokens, refill period (ms).
const CAPACITY: &[u8] = b"1000";
const REFILL: &[u8] = b"1000";
const PERIOD_MS: &[u8] = b"1000";

/// `pipeline` decisions in one write.
pub async fn resp(plan: &Plan, conn: &mut Conn, rng: &mut SmallRng) -> Result<Batch> {
    for _ in 0..plan.pipeline {
        let key = format!("bucket:{}", rng.random_range(0..KEYS)).into_bytes();
        match plan.dialect {
            Dialect::Redis => conn.push(&[b"EVALSHA", &plan.bucket_sha, b"1", &key, CAPACITY, REFILL, PERIOD_MS]),
            _ => conn.push(&[b"TOKENBUCKET", &key, CAPACITY, REFILL, PERIOD_MS]),
        }
    }
    conn.flush().await?;
    let mut out = Batch::default();
    for _ in 0..plan.pipeline {
        match conn.read().await? {
            Reply::Array(Some(v)) if v.len() == 5 && v.iter().all(|x| matches!(x, Reply::Int(_))) => out.ok += 1,
            r => out.fail(format!("bucket: {r:?}")),
        }
    }
    Ok(out)
}
