//! A small, lazily allocated stand-in for the crates.io `base2histogram` 0.2.3.
//!
//! Why this exists (fencepost issue 19): openraft 0.10 keeps about fifteen histograms
//! per Raft node for its runtime statistics. The published crate, on the first
//! `Histogram::new()`, builds value-to-bucket lookup tables for every bucket width it
//! supports (1 to 16 bits), about 25 MB, although openraft only uses the default width.
//! That made an idle node 35 MiB instead of under 10. Here bucket bounds are plain
//! arithmetic, so there is no table at all, and each histogram's counters (2 KiB) are
//! allocated on its first recorded value, so a histogram that never records costs
//! 24 bytes.
//!
//! Only what openraft calls is implemented: [`Histogram`] (`new`, `record`, `record_n`,
//! `total`, `percentile`, `percentile_stats`), [`PercentileStats`] and [`AsciiChart`]
//! (`new`, `add`, `detailed`). The crate is wired in with `[patch.crates-io]` in the
//! workspace's Cargo.toml and must keep the original's version number.
//!
//! # Buckets
//!
//! The layout is that of the original's default width (3 bits): values 0 to 3 have a
//! bucket each; every power-of-two range `[2^m, 2^(m+1))` with `m >= 2` is split into
//! four equal buckets. That is 4 + 4 * 62 = 252 buckets covering all of `u64`, with a
//! bucket never wider than a quarter of its lower bound.

use std::fmt;
use std::marker::PhantomData;

/// Number of buckets: 4 exact ones for 0..=3, then 4 per power of two from 2^2 to 2^63.
const NUM_BUCKETS: usize = 4 + 4 * 62;

/// Index of the bucket holding `value`.
fn bucket_of(value: u64) -> usize {
    if value < 4 {
        return value as usize;
    }
    // Position of the highest set bit (2..=63); the two bits below it pick one of the
    // four buckets of that power of two.
    let msb = 63 - value.leading_zeros() as usize;
    let shift = msb - 2;
    let quarter = ((value >> shift) & 0b11) as usize;
    4 + 4 * shift + quarter
}

/// Smallest and largest value (both inclusive) of bucket `index`.
fn bucket_bounds(index: usize) -> (u64, u64) {
    debug_assert!(index < NUM_BUCKETS);
    if index < 4 {
        return (index as u64, index as u64);
    }
    let shift = (index - 4) / 4;
    let quarter = ((index - 4) % 4) as u64;
    let lo = (0b100 | quarter) << shift;
    // Computed as lo + (width - 1) so the top bucket ends at u64::MAX without overflow.
    let hi = lo + ((1u64 << shift) - 1);
    (lo, hi)
}

/// Estimate of the `k`-th (1-based) of `n` samples known to lie in `[lo, hi]`: the
/// samples are taken to sit at the centres of `n` equal parts of the range, rounded to
/// the nearest integer. The result always lies in `[lo, hi]`.
fn spread_within(lo: u64, hi: u64, k: u64, n: u64) -> u64 {
    debug_assert!(1 <= k && k <= n);
    let span = (hi - lo) as u128;
    // lo + span * (k - 1/2) / n, rounded half up, in u128 so nothing overflows.
    let offset = (span * (2 * k as u128 - 1) + n as u128) / (2 * n as u128);
    lo + offset.min(span) as u64
}

/// Histogram of `u64` values in base-2 logarithmic buckets.
///
/// The type parameter is kept for API compatibility with the original crate, where it
/// is per-slot metadata for sliding windows; this version has no slots and never stores
/// a `T`.
pub struct Histogram<T = ()> {
    /// Per-bucket counts; `None` until the first value is recorded (the point of this
    /// crate: 2 KiB per histogram only once it is used).
    counts: Option<Box<[u64; NUM_BUCKETS]>>,
    /// Sum of all counts.
    total: u64,
    _slot_data: PhantomData<fn() -> T>,
}

impl<T> Histogram<T> {
    /// An empty histogram. Allocates nothing.
    pub fn new() -> Self {
        Histogram {
            counts: None,
            total: 0,
            _slot_data: PhantomData,
        }
    }

    /// Records one occurrence of `value`.
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `count` occurrences of `value`. Counts saturate at `u64::MAX` instead of
    /// overflowing.
    pub fn record_n(&mut self, value: u64, count: u64) {
        if count == 0 {
            return;
        }
        let counts = self.counts.get_or_insert_with(|| Box::new([0; NUM_BUCKETS]));
        let slot = &mut counts[bucket_of(value)];
        *slot = slot.saturating_add(count);
        self.total = self.total.saturating_add(count);
    }

    /// Number of values recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Estimated value at quantile `p` (0.0 to 1.0; values outside are clamped), i.e.
    /// the value of rank `ceil(p * total)` (at least 1) in sorted order. The estimate
    /// lies in the bucket that holds that rank. Returns 0 for an empty histogram.
    pub fn percentile(&self, p: f64) -> u64 {
        let Some(counts) = &self.counts else {
            return 0;
        };
        if self.total == 0 {
            return 0;
        }
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let rank = ((self.total as f64 * p).ceil() as u64).clamp(1, self.total);

        let mut below = 0u64;
        for (index, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if below + n >= rank {
                let (lo, hi) = bucket_bounds(index);
                return spread_within(lo, hi, rank - below, n);
            }
            below += n;
        }
        // Unreachable while total equals the sum of counts; saturated counts could
        // break that, so fall back to the largest recorded bucket's top.
        counts.iter().rposition(|&n| n > 0).map_or(0, |i| bucket_bounds(i).1)
    }

    /// Sample count and the 0.1, 1, 5, 10, 50, 90, 99 and 99.9th percentiles.
    pub fn percentile_stats(&self) -> PercentileStats {
        PercentileStats {
            samples: self.total,
            p0_1: self.percentile(0.001),
            p1: self.percentile(0.01),
            p5: self.percentile(0.05),
            p10: self.percentile(0.10),
            p50: self.percentile(0.50),
            p90: self.percentile(0.90),
            p99: self.percentile(0.99),
            p99_9: self.percentile(0.999),
        }
    }

    /// Non-empty buckets in ascending order as `(lo, hi, count)`, bounds inclusive.
    fn nonempty_buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts.iter().flat_map(|counts| {
            counts.iter().enumerate().filter(|(_, &n)| n > 0).map(|(i, &n)| {
                let (lo, hi) = bucket_bounds(i);
                (lo, hi, n)
            })
        })
    }

    /// Count in bucket `index`; an unallocated histogram reads as all zeros.
    fn count_at(&self, index: usize) -> u64 {
        self.counts.as_ref().map_or(0, |c| c[index])
    }
}

impl<T> Default for Histogram<T> {
    fn default() -> Self {
        Self::new()
    }
}

// Written by hand, not derived: a derive would require `T: Clone` etc. although no `T`
// is stored, and equality must not depend on whether the counters were allocated yet.
impl<T> Clone for Histogram<T> {
    fn clone(&self) -> Self {
        Histogram {
            counts: self.counts.clone(),
            total: self.total,
            _slot_data: PhantomData,
        }
    }
}

impl<T> PartialEq for Histogram<T> {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && (0..NUM_BUCKETS).all(|i| self.count_at(i) == other.count_at(i))
    }
}

impl<T> Eq for Histogram<T> {}

impl<T> fmt::Debug for Histogram<T> {
    /// Total and the non-empty buckets only (not 252 zeros).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Buckets<'a, T>(&'a Histogram<T>);
        impl<T> fmt::Debug for Buckets<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.nonempty_buckets().map(|(lo, hi, n)| (format!("{lo}..={hi}"), n)))
                    .finish()
            }
        }
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("buckets", &Buckets(self))
            .finish()
    }
}

/// Sample count and common percentiles of a [`Histogram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PercentileStats {
    /// Number of recorded values.
    pub samples: u64,
    /// 0.1th percentile.
    pub p0_1: u64,
    /// 1st percentile.
    pub p1: u64,
    /// 5th percentile.
    pub p5: u64,
    /// 10th percentile.
    pub p10: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
}

impl fmt::Display for PercentileStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[samples: {}, P0.1: {}, P1: {}, P5: {}, P10: {}, P50: {}, P90: {}, P99: {}, P99.9: {}]",
            self.samples, self.p0_1, self.p1, self.p5, self.p10, self.p50, self.p90, self.p99, self.p99_9
        )
    }
}

/// Text bar chart of one or more named histograms, for logs and `Display` output.
pub struct AsciiChart<T = ()> {
    series: Vec<(String, Histogram<T>)>,
}

impl<T> AsciiChart<T> {
    /// Longest bar, in characters; the largest bucket of all series gets it.
    const BAR_WIDTH: u64 = 40;

    /// A chart with no series.
    pub fn new() -> Self {
        AsciiChart { series: Vec::new() }
    }

    /// Adds a histogram under `name`.
    pub fn add(mut self, name: &str, hist: Histogram<T>) -> Self {
        self.series.push((name.to_string(), hist));
        self
    }

    /// A multi-line rendering: per series its name, one bar per non-empty bucket
    /// (`[lo, hi] | bar count`) and a line with the total, P50, P90 and P99. Bars of
    /// all series share one scale so they can be compared.
    pub fn detailed(&self) -> impl fmt::Display + '_ {
        Detailed(self)
    }
}

impl<T> Default for AsciiChart<T> {
    fn default() -> Self {
        Self::new()
    }
}

struct Detailed<'a, T>(&'a AsciiChart<T>);

impl<T> fmt::Display for Detailed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let series = &self.0.series;
        let max = series.iter().flat_map(|(_, h)| h.nonempty_buckets().map(|(_, _, n)| n)).max().unwrap_or(0);
        let label = |lo: u64, hi: u64| if lo == hi { format!("[{lo}]") } else { format!("[{lo}, {hi}]") };
        let label_width = series
            .iter()
            .flat_map(|(_, h)| h.nonempty_buckets().map(|(lo, hi, _)| label(lo, hi).len()))
            .max()
            .unwrap_or(0);

        for (name, hist) in series {
            writeln!(f, "{name}:")?;
            if hist.total() == 0 {
                writeln!(f, "  (no samples)")?;
                continue;
            }
            for (lo, hi, n) in hist.nonempty_buckets() {
                // At least one character for any non-empty bucket.
                let len = ((n as u128 * AsciiChart::<T>::BAR_WIDTH as u128).div_ceil(max as u128)) as usize;
                writeln!(f, "  {:>label_width$} | {} {n}", label(lo, hi), "█".repeat(len))?;
            }
            writeln!(
                f,
                "  total: {}  P50: {}  P90: {}  P99: {}",
                hist.total(),
                hist.percentile(0.5),
                hist.percentile(0.9),
                hist.percentile(0.99)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact value of rank `ceil(p * n)` (at least 1) in `sorted`.
    fn exact_percentile(sorted: &[u64], p: f64) -> u64 {
        let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// Deterministic values spread over many magnitudes (xorshift64, then a random
    /// number of low bits kept).
    fn spread_values(n: usize) -> Vec<u64> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let bits = x % 65;
                if bits == 64 {
                    x
                } else {
                    (x >> 7) & ((1u64 << bits) - 1)
                }
            })
            .collect()
    }

    #[test]
    fn bucket_layout_matches_the_original_default_width() {
        // 0..=7 exact, then 4 buckets per power of two.
        for v in 0..8 {
            assert_eq!(bucket_of(v), v as usize);
        }
        assert_eq!(bucket_of(8), 8);
        assert_eq!(bucket_of(9), 8);
        assert_eq!(bucket_of(10), 9);
        assert_eq!(bucket_of(15), 11);
        assert_eq!(bucket_of(16), 12);
        assert_eq!(bucket_of(42), 17);
        assert_eq!(bucket_bounds(17), (40, 47));
        assert_eq!(bucket_of(u64::MAX), NUM_BUCKETS - 1);
        assert_eq!(NUM_BUCKETS, 252);
    }

    #[test]
    fn buckets_tile_u64_without_gaps() {
        assert_eq!(bucket_bounds(0).0, 0);
        for i in 0..NUM_BUCKETS {
            let (lo, hi) = bucket_bounds(i);
            assert!(lo <= hi);
            assert_eq!(bucket_of(lo), i, "lo of bucket {i}");
            assert_eq!(bucket_of(hi), i, "hi of bucket {i}");
            // Never wider than a quarter of the lower bound (exact below 8).
            assert!(hi - lo <= lo / 4, "bucket {i} too wide: [{lo}, {hi}]");
            if i + 1 < NUM_BUCKETS {
                assert_eq!(hi + 1, bucket_bounds(i + 1).0, "gap after bucket {i}");
            }
        }
        assert_eq!(bucket_bounds(NUM_BUCKETS - 1).1, u64::MAX);
        for v in 0..=10_000u64 {
            let (lo, hi) = bucket_bounds(bucket_of(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
        }
    }

    #[test]
    fn empty_histogram_allocates_nothing_and_reads_zero() {
        let h = Histogram::<()>::new();
        assert!(h.counts.is_none());
        assert_eq!(h.total(), 0);
        assert_eq!(h.percentile(0.0), 0);
        assert_eq!(h.percentile(0.5), 0);
        assert_eq!(h.percentile(1.0), 0);
        let s = h.percentile_stats();
        assert_eq!(
            s,
            PercentileStats {
                samples: 0,
                p0_1: 0,
                p1: 0,
                p5: 0,
                p10: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p99_9: 0
            }
        );
        assert_eq!(h, Histogram::default());
        // A zero count records nothing and still allocates nothing.
        let mut h = h;
        h.record_n(5, 0);
        assert!(h.counts.is_none());
        assert_eq!(h.total(), 0);
    }

    #[test]
    fn counters_are_allocated_on_first_record() {
        let mut h = Histogram::<()>::new();
        h.record(3);
        assert!(h.counts.is_some());
        assert_eq!(h.total(), 1);
        assert_eq!(h.count_at(3), 1);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::<()>::new();
        for v in 0..8 {
            h.record(v);
        }
        assert_eq!(h.total(), 8);
        assert_eq!(h.percentile(0.0), 0);
        assert_eq!(h.percentile(1.0 / 8.0), 0);
        assert_eq!(h.percentile(0.5), 3);
        assert_eq!(h.percentile(0.51), 4);
        assert_eq!(h.percentile(1.0), 7);
    }

    #[test]
    fn record_n_counts_repeats() {
        let mut h = Histogram::<()>::new();
        h.record(5);
        h.record(8);
        h.record(13);
        h.record_n(21, 3);
        assert_eq!(h.total(), 6);
        // Rank 3 is 13, alone in bucket [12, 13]; ranks 4..=6 are the 21s in [20, 23].
        let p50 = h.percentile(0.5);
        assert!((12..=13).contains(&p50), "{p50}");
        let p99 = h.percentile(0.99);
        assert!((20..=23).contains(&p99), "{p99}");
        // The 21s are spread over their bucket in order.
        assert!(h.percentile(4.0 / 6.0) <= h.percentile(5.0 / 6.0));
        assert!(h.percentile(5.0 / 6.0) <= h.percentile(1.0));
    }

    #[test]
    fn percentiles_fall_in_the_bucket_of_the_exact_percentile() {
        let mut values = spread_values(20_000);
        let mut h = Histogram::<()>::new();
        for &v in &values {
            h.record(v);
        }
        values.sort_unstable();
        assert_eq!(h.total(), values.len() as u64);
        let mut last = 0;
        for p in [0.0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
            let exact = exact_percentile(&values, p);
            let got = h.percentile(p);
            assert_eq!(bucket_of(got), bucket_of(exact), "p={p}: got {got}, exact {exact}");
            assert!(got >= last, "percentiles not monotonic at p={p}");
            last = got;
        }
        let s = h.percentile_stats();
        assert_eq!(s.samples, 20_000);
        assert_eq!(s.p0_1, h.percentile(0.001));
        assert_eq!(s.p50, h.percentile(0.5));
        assert_eq!(s.p99_9, h.percentile(0.999));
    }

    #[test]
    fn single_value_repeated_stays_in_its_bucket() {
        let mut h = Histogram::<()>::new();
        h.record_n(1_000_000, 1_000);
        for p in [0.0, 0.5, 1.0] {
            assert_eq!(bucket_of(h.percentile(p)), bucket_of(1_000_000));
        }
    }

    #[test]
    fn large_values_do_not_overflow() {
        let mut h = Histogram::<()>::new();
        h.record(u64::MAX);
        h.record(1 << 63);
        h.record_n(u64::MAX - 1, 3);
        assert_eq!(h.total(), 5);
        // 1 << 63 opens the first quarter of the top power of two (bucket 248).
        assert_eq!(bucket_of(h.percentile(0.0)), bucket_of(1 << 63));
        assert_eq!(bucket_of(1 << 63), NUM_BUCKETS - 4);
        let top = h.percentile(1.0);
        assert_eq!(bucket_of(top), NUM_BUCKETS - 1);
        let s = h.percentile_stats();
        assert_eq!(bucket_of(s.p99_9), NUM_BUCKETS - 1);

        // Counts saturate instead of overflowing.
        let mut h = Histogram::<()>::new();
        h.record_n(7, u64::MAX);
        h.record_n(7, 10);
        assert_eq!(h.total(), u64::MAX);
        assert_eq!(h.percentile(0.5), 7);
        assert_eq!(h.percentile(1.0), 7);
    }

    #[test]
    fn out_of_range_quantiles_are_clamped() {
        let mut h = Histogram::<()>::new();
        h.record(2);
        h.record(6);
        assert_eq!(h.percentile(-1.0), 2);
        assert_eq!(h.percentile(f64::NAN), 2);
        assert_eq!(h.percentile(7.0), 6);
    }

    #[test]
    fn clone_and_equality_ignore_allocation_state() {
        let mut a = Histogram::<()>::new();
        a.record_n(100, 2);
        let b = a.clone();
        assert_eq!(a, b);
        let mut c = Histogram::<()>::new();
        c.record(100);
        assert_ne!(a, c);
        c.record(101); // same bucket as 100
        assert_eq!(a, c);
        assert_eq!(format!("{a:?}"), "Histogram { total: 2, buckets: {\"96..=111\": 2} }");
    }

    #[test]
    fn percentile_stats_display() {
        let mut h = Histogram::<()>::new();
        h.record(1);
        assert_eq!(
            h.percentile_stats().to_string(),
            "[samples: 1, P0.1: 1, P1: 1, P5: 1, P10: 1, P50: 1, P90: 1, P99: 1, P99.9: 1]"
        );
    }

    #[test]
    fn ascii_chart_detailed() {
        let mut a = Histogram::<()>::new();
        a.record_n(10, 4);
        a.record_n(100, 2);
        let chart = AsciiChart::new().add("a", a).add("empty", Histogram::new());
        let out = chart.detailed().to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "a:");
        assert_eq!(lines[1], format!("   [10, 11] | {} 4", "█".repeat(40)));
        assert_eq!(lines[2], format!("  [96, 111] | {} 2", "█".repeat(20)));
        assert!(lines[3].starts_with("  total: 6  P50: "), "{}", lines[3]);
        assert_eq!(lines[4], "empty:");
        assert_eq!(lines[5], "  (no samples)");
        assert_eq!(AsciiChart::<()>::new().detailed().to_string(), "");
    }
}
