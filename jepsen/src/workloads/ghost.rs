//! A waiter that goes away: `LOCK ACQUIRE name ghost ttl WAIT ms` sent on a raw
//! connection that is dropped once LOCK INFO shows it queued. The node holding that
//! connection must propose a cancel (DESIGN.md, Waiting): the queue shrinks while the
//! holder still holds, and from then on the ghost must never be the holder. Used by
//! `fifo` in some rounds; judged by the `waiter-cancel` checker.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{lock, Worker};
use crate::cluster::addr;
use crate::history::{i, map, s, Proc, Type, V};

/// The ghost's lease and wait: both far longer than the phase, so that a queue that
/// shrinks can only be the cancel, and a grant to the ghost would show in LOCK INFO.
const TTL_MS: u64 = 5000;
const WAIT_MS: u64 = 10000;

/// One command as RESP.
fn resp(words: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

/// Polls LOCK INFO (as `wk`) until `pred(holder, token, waiters)` or `limit` passes.
async fn until(wk: &mut Worker, name: &str, limit: Duration, pred: impl Fn(&str, u64, u64) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(Some((h, t, n))) = lock::info(wk, name).await {
            if pred(&h, t, n) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    false
}

/// While `wk` holds `name` with `token` and nobody waits: queue a ghost, drop it, and
/// record `ghost-gone` once LOCK INFO shows the queue empty again with `wk` still the
/// holder. Returns whether that was seen.
pub async fn haunt(wk: &mut Worker, name: &str, token: u64, round: u64) -> bool {
    let owner = format!("{}-r{round}-ghost", wk.owner());
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(owner.clone())),
        ("ttl", i(TTL_MS)),
        ("round", i(round)),
    ]);
    let p = Proc::Client(wk.shared.process());
    let rec = wk.shared.recorder.clone();
    rec.record(Type::Invoke, p, "ghost-wait", req.clone());
    let words: Vec<String> = [
        "LOCK",
        "ACQUIRE",
        name,
        &owner,
        &TTL_MS.to_string(),
        "WAIT",
        &WAIT_MS.to_string(),
    ]
    .iter()
    .map(|w| w.to_string())
    .collect();
    let slot = wk.w % wk.shared.nodes + 1;
    let conn = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr(slot))).await;
    let mut stream = match conn {
        Ok(Ok(st)) => st,
        other => {
            let why = format!("connect: {other:?}");
            rec.record(Type::Fail, p, "ghost-wait", req.with("error", s(why)));
            return false;
        }
    };
    if let Err(e) = stream.write_all(&resp(&words)).await {
        rec.record(Type::Info, p, "ghost-wait", req.with("error", s(format!("write: {e}"))));
        return false;
    }
    let me = wk.owner();
    let queued = until(wk, name, Duration::from_millis(1500), |h, t, n| {
        h == me && t == token && n >= 1
    })
    .await;
    drop(stream);
    let why = if queued {
        "disconnected while queued"
    } else {
        "disconnected, never seen queued"
    };
    rec.record(Type::Info, p, "ghost-wait", req.with("error", s(why)));
    if !queued {
        return false;
    }
    let gone = until(wk, name, Duration::from_millis(3000), |h, t, n| {
        h == me && t == token && n == 0
    })
    .await;
    if gone {
        let g = map(vec![("name", s(name)), ("owner", s(owner)), ("round", i(round))]);
        let q = Proc::Client(wk.process);
        rec.record(Type::Invoke, q, "ghost-gone", g.clone());
        rec.record(Type::Ok, q, "ghost-gone", g.with("holder", V::Str(me)));
    }
    gone
}
