//! `sliding`: RATELIMIT SLIDING hammered by every worker: `sl-a` (10 calls per 1000 ms)
//! most of the time, `sl-b` (4 per 400 ms) otherwise. Each call is recorded as `slide`
//! with the key's parameters and `:limited` 0 (admitted) or 1 (refused).

use rand::Rng;

use super::{args, Worker};
use crate::client::{as_int, as_items, Outcome};
use crate::history::{i, map, s, Type, V};

/// (key, limit, window ms)
pub const KEYS: [(&str, u64, u64); 2] = [("sl-a", 10, 1000), ("sl-b", 4, 400)];

/// The client loop.
pub async fn run(mut wk: Worker) {
    while wk.live() {
        let (key, limit, window) = KEYS[usize::from(wk.rng.random_bool(0.25))];
        let req = map(vec![("key", s(key)), ("limit", i(limit)), ("window", i(window))]);
        let o = wk
            .call("slide", &req, &args(&[&"RATELIMIT", &"SLIDING", &key, &limit, &window]))
            .await;
        match o {
            Outcome::Ok(v) if as_items(&v).is_some_and(|x| x.len() == 5) => {
                let items = as_items(&v).unwrap_or_default();
                let limited = as_int(&items[0]).unwrap_or(-1);
                let remaining = as_int(&items[2]).unwrap_or(-1);
                wk.done(
                    Type::Ok,
                    "slide",
                    req.with("limited", V::Int(limited))
                        .with("remaining", V::Int(remaining)),
                );
            }
            other => wk.done_other("slide", &req, &other),
        }
        wk.pace().await;
    }
}
