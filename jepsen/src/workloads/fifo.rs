//! `fifo`: rounds of a holder and three waiters on one name. Each waiter is queued with
//! ACQUIRE ... WAIT, and the next is sent only once LOCK INFO shows the queue grown
//! (recorded as a `:confirmed` op), so the enqueue order is known; then the holder
//! releases and the waiters must be granted in that order. In a quarter of the rounds a
//! waiter that drops its connection while queued comes first (`ghost.rs`).

use std::time::{Duration, Instant};

use rand::Rng;
use redis::Value;

use super::{args, lock, Worker};
use crate::client::{as_int, Outcome};
use crate::history::{i, map, s, Proc, Type, V};

const WAITERS: usize = 3;

/// One coordinator loop (each worker runs rounds on its own name).
pub async fn run(mut wk: Worker) {
    let mut round = 0u64;
    while wk.live() {
        round += 1;
        let rid = (wk.w as u64) * 1_000_000 + round;
        let name = format!("q{}", wk.w);
        let Some(token) = lock::acquire(&mut wk, &name, 3000).await else {
            wk.pace().await;
            continue;
        };
        // A quarter of the rounds first queue a waiter that disconnects (`ghost.rs`).
        let haunted = wk.rng.random_bool(0.25) && super::ghost::haunt(&mut wk, &name, token, rid).await;
        let mut waiters = tokio::task::JoinSet::new();
        for k in 0..WAITERS {
            let mut ww = Worker::new(wk.shared.clone(), wk.w);
            let owner = format!("w{}-r{round}-{k}", wk.w);
            let (n2, o2) = (name.clone(), owner.clone());
            waiters.spawn(async move { wait_for(&mut ww, &n2, &o2, rid).await });
            // Confirm the queue grew before queueing the next one.
            let deadline = Instant::now() + Duration::from_millis(1500);
            let mut ok = false;
            while Instant::now() < deadline {
                if let Some(Some((_, _, n))) = lock::info(&mut wk, &name).await {
                    if n as usize > k {
                        ok = true;
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            if !ok {
                break;
            }
            let req = map(vec![("round", i(rid)), ("owner", s(owner)), ("seq", i(k as u64))]);
            let p = Proc::Client(wk.process);
            wk.shared.recorder.record(Type::Invoke, p, "confirmed", req.clone());
            wk.shared.recorder.record(Type::Ok, p, "confirmed", req);
        }
        lock::release(&mut wk, &name, token).await;
        if haunted {
            // The lock now passes to the real waiters; the ghost must never show up.
            for _ in 0..3 {
                lock::info(&mut wk, &name).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(12), async {
            while waiters.join_next().await.is_some() {}
        })
        .await;
        waiters.abort_all();
        wk.pace().await;
    }
}

/// One waiter: ACQUIRE WAIT, then release at once so the next is granted.
async fn wait_for(wk: &mut Worker, name: &str, owner: &str, rid: u64) {
    let ttl = 300u64;
    let wait = 8000u64;
    let req = map(vec![
        ("name", s(name)),
        ("owner", s(owner)),
        ("ttl", i(ttl)),
        ("round", i(rid)),
    ]);
    // The call blocks while queued: give it the wait plus the usual timeout.
    let cmd = args(&[&"LOCK", &"ACQUIRE", &name, &owner, &ttl, &"WAIT", &wait]);
    wk.shared.ops_left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    wk.shared
        .recorder
        .record(Type::Invoke, Proc::Client(wk.process), "acquire-wait", req.clone());
    let mut slow = crate::client::Client::new(
        crate::cluster::addr(wk.w % wk.shared.nodes + 1),
        Duration::from_millis(wait + 2500),
    );
    let o = slow.call(&cmd).await;
    match o {
        Outcome::Ok(Value::Nil) => wk.done(Type::Ok, "acquire-wait", req.with("token", V::Nil)),
        Outcome::Ok(v) if as_int(&v).is_some() => {
            let t = as_int(&v).unwrap_or(0) as u64;
            wk.done(Type::Ok, "acquire-wait", req.with("token", i(t)));
            let rq = map(vec![("name", s(name)), ("owner", s(owner)), ("token", i(t))]);
            wk.shared
                .recorder
                .record(Type::Invoke, Proc::Client(wk.process), "release", rq.clone());
            match slow.call(&args(&[&"LOCK", &"RELEASE", &name, &owner, &t])).await {
                Outcome::Ok(v) => wk.done(
                    Type::Ok,
                    "release",
                    rq.with("released", V::Int(as_int(&v).unwrap_or(0))),
                ),
                other => wk.done_other("release", &rq, &other),
            }
        }
        other => wk.done_other("acquire-wait", &req, &other),
    }
}
