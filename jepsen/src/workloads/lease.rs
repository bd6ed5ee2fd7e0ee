//! `lease`: short leases of varied TTL on a few names; holders release half the time
//! and let the lease run out otherwise, so grants follow both releases and expiries.
//! A quarter of the holders renew with EXTEND first, with a TTL of their own.

use std::time::Duration;

use rand::seq::IndexedRandom;
use rand::Rng;

use super::{lock, Worker};

/// The client loop.
pub async fn run(mut wk: Worker) {
    while wk.live() {
        let name = format!("ls{}", wk.rng.random_range(0..3));
        let ttl = *[300u64, 500, 1000].choose(&mut wk.rng).unwrap_or(&500);
        if let Some(t) = lock::acquire(&mut wk, &name, ttl).await {
            if wk.rng.random_bool(0.25) {
                // A renewal, possibly shorter than the lease: the lease now ends at this
                // EXTEND's TTL, counted from it.
                let ttl2 = *[300u64, 500, 1000].choose(&mut wk.rng).unwrap_or(&500);
                let owner = wk.owner();
                lock::extend(&mut wk, &name, &owner, t, ttl2).await;
            }
            let d = Duration::from_millis(wk.rng.random_range(0..ttl / 2));
            wk.sleep(d).await;
            if wk.rng.random_bool(0.5) {
                lock::release(&mut wk, &name, t).await;
            }
        }
        wk.pace().await;
    }
}
