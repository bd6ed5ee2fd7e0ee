//! A latency histogram that records with relaxed atomic adds only: no lock, so it can
//! sit on the command path and in the WAL writer thread. Buckets are fixed, doubling
//! from 50 µs to about 26 s, which spans a loopback round trip to a stalled fsync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Number of finite buckets (the +Inf bucket is the count).
pub const BUCKETS: usize = 20;
/// The smallest bucket's upper bound, in microseconds; each next one doubles it.
const FIRST_US: u64 = 50;

/// Cumulative-at-read histogram of durations.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        // The first bucket whose bound (FIRST_US << i) holds `us`; past the last, none.
        let slot = (0..BUCKETS).find(|&i| us <= FIRST_US << i);
        if let Some(i) = slot {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// `(sum in seconds, count, [(upper bound in seconds, count in that bucket alone)])`,
    /// as prometheus-client's encoder takes them: it accumulates the buckets itself and
    /// writes `+Inf` for the bound `f64::MAX` (the last bucket here).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut finite = 0;
        let mut out = Vec::with_capacity(BUCKETS + 1);
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            finite += n;
            out.push(((FIRST_US << i) as f64 / 1e6, n));
        }
        // Read apart from the buckets, the count may lag them by an observation in flight.
        let count = self.count.load(Ordering::Relaxed).max(finite);
        out.push((f64::MAX, count - finite));
        (self.sum_us.load(Ordering::Relaxed) as f64 / 1e6, count, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_own_counts_and_the_last_is_unbounded() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_micros(60));
        h.observe(Duration::from_secs(100));
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 3);
        assert!((sum - 100.00007).abs() < 1e-6);
        assert_eq!(buckets[0], (50e-6, 1));
        assert_eq!(buckets[1], (100e-6, 1));
        assert_eq!(buckets[BUCKETS - 1].1, 0);
        assert_eq!(buckets[BUCKETS], (f64::MAX, 1), "100 s is past the last finite bucket");
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), count);
    }
}
