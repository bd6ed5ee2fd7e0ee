//! `bucket`: rate-limit calls on three keys. Two refill (TOKENBUCKET `b-rate`, 10
//! tokens, 5 per second; and `b-cell`, 5 tokens, 5 per second, taken with redis-cell's
//! CL.THROTTLE, which the same engine serves) and are judged against capacity + rate x
//! window; one never refills in a run (5000 tokens, one per 10^12 ms) and is judged as a
//! linearizable counter. The counter is large so that it is not empty during a run: a
//! lost or reset level then shows as a "remaining" seen twice, even when entries
//! replayed after a restart absorb part of it.

use rand::Rng;

use super::{args, Worker};
use crate::client::{as_int, as_items, Outcome};
use crate::history::{i, map, s, Type};

/// (key, capacity, refill tokens, refill period ms)
const KEYS: [(&str, u64, u64, u64); 3] = [
    ("b-rate", 10, 5, 1000),
    ("b-count", 5000, 1, 1_000_000_000_000),
    // Taken with redis-cell's CL.THROTTLE b-cell 4 5 1: max_burst 4 is a capacity of 5.
    ("b-cell", 5, 5, 1000),
];

/// The client loop.
pub async fn run(mut wk: Worker) {
    while wk.live() {
        let (key, cap, refill, period) = KEYS[wk.rng.random_range(0..KEYS.len())];
        let req = map(vec![
            ("key", s(key)),
            ("capacity", i(cap)),
            ("refill", i(refill)),
            ("period", i(period)),
        ]);
        let cmd = if key == "b-cell" {
            args(&[&"CL.THROTTLE", &key, &(cap - 1), &refill, &(period / 1000)])
        } else {
            args(&[&"TOKENBUCKET", &key, &cap, &refill, &period])
        };
        let o = wk.call("take", &req, &cmd).await;
        match o {
            Outcome::Ok(v) if as_items(&v).is_some_and(|x| x.len() == 5) => {
                let items = as_items(&v).unwrap_or_default();
                let limited = as_int(&items[0]).unwrap_or(-1);
                let remaining = as_int(&items[2]).unwrap_or(-1);
                wk.done(
                    Type::Ok,
                    "take",
                    req.with("limited", crate::history::V::Int(limited))
                        .with("remaining", crate::history::V::Int(remaining)),
                );
            }
            other => wk.done_other("take", &req, &other),
        }
        wk.pace().await;
    }
}
