//! Idempotent request: claim a fresh key, then store the response for replays.

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Dialect, Plan};
use crate::etcd::Etcd;
use crate::resp::{Conn, Reply};

/// How long a completed response is kept.
const TTL_MS: &[u8] = b"60000";
/// A typical request fingerprint and response body.
const FINGERPRINT: &[u8] = b"sha256:9f86d081884c7d659a2feaa0c55ad015";
const RESPONSE: &[u8] = br#"{"status":"paid","id":"ch_3Ob1x2"}"#;

fn fresh_key(rng: &mut SmallRng) -> Vec<u8> {
    format!("idem:{}", rng.random::<u64>()).into_bytes()
}

/// `pipeline` claims in one write, then the completions of those started in a second.
pub async fn resp(plan: &Plan, conn: &mut Conn, rng: &mut SmallRng) -> Result<Batch> {
    let keys: Vec<Vec<u8>> = (0..plan.pipeline).map(|_| fresh_key(rng)).collect();
    for k in &keys {
        match plan.dialect {
            Dialect::Redis => conn.push(&[b"SET", k, b"pending", b"NX", b"PX", TTL_MS]),
            _ => conn.push(&[b"IDEMP", b"BEGIN", k, FINGERPRINT, TTL_MS]),
        }
    }
    conn.flush().await?;
    let mut out = Batch::default();
    let mut started: Vec<(&[u8], Vec<u8>)> = Vec::with_capacity(keys.len());
    for k in &keys {
        match (plan.dialect, conn.read().await?) {
            (Dialect::Redis, Reply::Simple(s)) if s == "OK" => started.push((k, Vec::new())),
            (Dialect::Fencepost, Reply::Array(Some(v))) => match v.as_slice() {
                [state, Reply::Int(t)] if state.text() == Some(&b"started"[..]) => {
                    started.push((k, t.to_string().into_bytes()))
                }
                other => out.fail(format!("begin: {other:?}")),
            },
            (_, r) => out.fail(format!("begin: {r:?}")),
        }
    }
    if started.is_empty() {
        return Ok(out);
    }
    for (k, token) in &started {
        match plan.dialect {
            Dialect::Redis => conn.push(&[b"SET", k, RESPONSE, b"PX", TTL_MS]),
            _ => conn.push(&[b"IDEMP", b"COMPLETE", k, token, RESPONSE]),
        }
    }
    conn.flush().await?;
    for _ in &started {
        match conn.read().await? {
            Reply::Simple(s) if s == "OK" => out.ok += 1,
            r => out.fail(format!("complete: {r:?}")),
        }
    }
    Ok(out)
}

/// etcd: a transaction that puts only if the key was never created, then a plain put.
pub async fn etcd(etcd: &mut Etcd, rng: &mut SmallRng) -> Result<Batch> {
    let mut out = Batch::default();
    let key = fresh_key(rng);
    match out.etcd_result("begin", etcd.put_if_absent(&key, b"pending").await)? {
        Some(true) => {}
        Some(false) => {
            out.fail("begin: key already exists".into());
            return Ok(out);
        }
        None => return Ok(out),
    }
    if out.etcd_result("complete", etcd.put(&key, RESPONSE).await)?.is_some() {
        out.ok += 1;
    }
    Ok(out)
}
