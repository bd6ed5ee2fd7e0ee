//! `watch`: LOCK WATCH followers of two locks' holders (etcd's election Observe). Even
//! workers are *holders*: each is one owner that takes one of the names with a short
//! lease (300/500/800 ms), holds it 50-300 ms, renews it a fifth of the time with a
//! same-owner ACQUIRE (same token), then releases it (60%) or lets it run out, and comes
//! back for more. Odd workers are *watchers*: each loops `LOCK WATCH name <the last token
//! it saw of that name> <500-3000 ms>` (0 before it saw any, and after a nil answer),
//! mostly on its own name and through its own node, a quarter of the calls through
//! another node, one call in eight on the other name. Recorded as `watch` with `:sent`,
//! `:timeout`, `:node` and `:watcher` (the worker), answered `:holder`/`:token` (nil
//! when free). The `watch` checker judges the answers against the holders' history.

use std::collections::HashMap;
use std::time::Duration;

use rand::seq::IndexedRandom;
use rand::Rng;
use redis::Value;

use super::{args, lock, Worker};
use crate::client::{as_int, as_items, as_text, Client, Outcome};
use crate::cluster::addr;
use crate::history::{i, map, s, Type, V};

/// Names the workload uses.
pub const NAMES: usize = 2;
/// WATCH timeouts (ms), drawn uniformly.
pub const TIMEOUT_MS: (u64, u64) = (500, 3000);

/// The client loop: holder or watcher by the worker's parity.
pub async fn run(wk: Worker) {
    if wk.w.is_multiple_of(2) {
        hold(wk).await
    } else {
        watch(wk).await
    }
}

async fn hold(mut wk: Worker) {
    while wk.live() {
        let name = format!("wt{}", wk.rng.random_range(0..NAMES));
        let ttl = *[300u64, 500, 800].choose(&mut wk.rng).unwrap_or(&500);
        if let Some(t) = lock::acquire(&mut wk, &name, ttl).await {
            let d = Duration::from_millis(wk.rng.random_range(50..300));
            wk.sleep(d).await;
            if wk.rng.random_bool(0.2) {
                // A renewal: the same token, which no watcher may report as a change.
                lock::acquire(&mut wk, &name, ttl).await;
                let d = Duration::from_millis(wk.rng.random_range(50..300));
                wk.sleep(d).await;
            }
            if wk.rng.random_bool(0.6) {
                lock::release(&mut wk, &name, t).await;
            }
        }
        wk.pace().await;
    }
}

async fn watch(mut wk: Worker) {
    let nodes = wk.shared.nodes;
    let own = wk.w % nodes;
    // One client per node, each able to wait out the longest WATCH.
    let mut clients: Vec<Client> = (1..=nodes)
        .map(|slot| {
            Client::as_user(
                addr(slot),
                Duration::from_millis(TIMEOUT_MS.1) + wk.shared.op_timeout,
                wk.shared.user.clone(),
            )
        })
        .collect();
    let home = format!("wt{}", (wk.w / 2) % NAMES);
    let mut last: HashMap<String, u64> = HashMap::new();
    while wk.live() {
        let name = if wk.rng.random_bool(0.125) {
            format!("wt{}", wk.rng.random_range(0..NAMES))
        } else {
            home.clone()
        };
        let node = if nodes > 1 && wk.rng.random_bool(0.25) {
            (own + wk.rng.random_range(1..nodes)) % nodes
        } else {
            own
        };
        let sent = last.get(&name).copied().unwrap_or(0);
        let timeout = wk.rng.random_range(TIMEOUT_MS.0..=TIMEOUT_MS.1);
        let req = map(vec![
            ("name", s(name.clone())),
            ("sent", i(sent)),
            ("timeout", i(timeout)),
            ("node", i(node as u64 + 1)),
            ("watcher", i(wk.w as u64)),
        ]);
        let cmd = args(&[&"LOCK", &"WATCH", &name, &sent, &timeout]);
        let o = wk.call_via(&mut clients[node], "watch", &req, &cmd).await;
        match answer(&o) {
            Some(None) => {
                wk.done(Type::Ok, "watch", req.with("holder", V::Nil).with("token", V::Nil));
                last.insert(name, 0);
            }
            Some(Some((holder, token))) => {
                wk.done(Type::Ok, "watch", req.with("holder", s(holder)).with("token", i(token)));
                last.insert(name, token);
            }
            None => {
                wk.done_other("watch", &req, &o);
                // A node that is down answers at once: do not spin on it.
                let d = wk.shared.interval;
                wk.sleep(d).await;
            }
        }
    }
}

/// LOCK INFO's reply as (owner, token), `Some(None)` for nil; `None` for anything else.
fn answer(o: &Outcome) -> Option<Option<(String, u64)>> {
    match o {
        Outcome::Ok(Value::Nil) => Some(None),
        Outcome::Ok(v) => {
            let items = as_items(v)?;
            let (mut owner, mut token) = (None, None);
            for kv in items.chunks(2) {
                if let [k, val] = kv {
                    match as_text(k).as_deref() {
                        Some("owner") => owner = as_text(val),
                        Some("token") => token = as_int(val),
                        _ => {}
                    }
                }
            }
            Some(Some((owner?, u64::try_from(token?).ok()?)))
        }
        _ => None,
    }
}
