//! `bucket`: two buckets. A refilling one: over every window of real time, the calls
//! allowed inside it are at most capacity + rate x window (the server's clock may run
//! 1% slow, never fast). A bucket whose refill period is effectively infinite is a
//! counter: every allowed call's "remaining" is distinct, real-time ordered calls see it
//! fall, and no more than its capacity are ever allowed.

use std::collections::BTreeMap;

use super::{Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

/// Checks every bucket key in `ops`; parameters come from the ops themselves.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut by_key: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in &ps {
        if p.f == "take" && p.typ == Type::Ok && p.resp.int("limited") == Some(0) {
            if let Some(k) = p.req.str("key") {
                by_key.entry(k).or_default().push(p);
            }
        }
    }
    let mut anomalies = Vec::new();
    for (key, allowed) in by_key {
        let cap = allowed[0].req.int("capacity").unwrap_or(0) as u64;
        let refill = allowed[0].req.int("refill").unwrap_or(0) as u64;
        let period = allowed[0].req.int("period").unwrap_or(1).max(1) as u64;
        if period >= 1_000_000_000 {
            check_counter(key, cap, &allowed, &mut anomalies);
        } else {
            check_rate(key, cap, refill, period, &allowed, &mut anomalies);
        }
    }
    Report::from("bucket", anomalies)
}

/// Windows bounded by one allowed call's invocation and another's completion: the calls
/// wholly inside certainly took their tokens inside it.
fn check_rate(key: &str, cap: u64, refill: u64, period_ms: u64, allowed: &[&Pair], out: &mut Vec<Anomaly>) {
    let mut by_inv: Vec<&&Pair> = allowed.iter().collect();
    by_inv.sort_by_key(|p| p.inv);
    let mut worst: Option<(u64, u64, u64, f64)> = None;
    for (a, start) in by_inv.iter().enumerate() {
        let mut inside: Vec<u64> = by_inv[a..].iter().map(|p| p.ret).filter(|r| *r != u64::MAX).collect();
        inside.sort_unstable();
        for (n, end) in inside.iter().enumerate() {
            let count = n as u64 + 1;
            let window_ms = end.saturating_sub(start.inv) as f64 / 1e6;
            let bound = cap as f64 + refill as f64 * window_ms / period_ms as f64 + 1.0;
            if count as f64 > bound && worst.is_none_or(|w| count as f64 - bound > w.3) {
                worst = Some((start.inv, *end, count, count as f64 - bound));
            }
        }
    }
    if let Some((from, to, count, excess)) = worst {
        out.push(Anomaly {
            kind: "bucket-over-rate",
            at: to,
            detail: format!(
                "{key}: {count} calls allowed within {} ms, {excess:.1} more than capacity {cap} + {refill}/{period_ms} ms allows",
                (to - from) / 1_000_000
            ),
        });
    }
}

fn check_counter(key: &str, cap: u64, allowed: &[&Pair], out: &mut Vec<Anomaly>) {
    if allowed.len() as u64 > cap {
        out.push(Anomaly {
            kind: "counter-over-capacity",
            at: allowed.iter().map(|p| p.ret).max().unwrap_or(0),
            detail: format!(
                "{key}: {} calls allowed by a bucket of {cap} that never refills",
                allowed.len()
            ),
        });
    }
    let mut seen: BTreeMap<i64, &Pair> = BTreeMap::new();
    for p in allowed {
        let rem = p.resp.int("remaining").unwrap_or(-1);
        if let Some(q) = seen.insert(rem, p) {
            out.push(Anomaly {
                kind: "counter-duplicate",
                at: p.ret.max(q.ret),
                detail: format!("{key}: two allowed calls both left {rem} tokens"),
            });
        }
    }
    let mut by_ret: Vec<&&Pair> = allowed.iter().collect();
    by_ret.sort_by_key(|p| p.ret);
    for b in allowed {
        let rb = b.resp.int("remaining").unwrap_or(-1);
        if let Some(a) = by_ret
            .iter()
            .take_while(|a| a.ret < b.inv)
            .find(|a| a.resp.int("remaining").unwrap_or(-1) <= rb)
        {
            out.push(Anomaly {
                kind: "counter-not-linearizable",
                at: b.ret,
                detail: format!(
                    "{key}: a call left {rb} tokens after an earlier one had left {}",
                    a.resp.int("remaining").unwrap_or(-1)
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s};

    const MS: u64 = 1_000_000;
    fn take(ops: &mut Vec<Op>, key: &str, period: u64, inv: u64, remaining: u64) {
        let req = map(vec![
            ("key", s(key)),
            ("capacity", i(3)),
            ("refill", i(1)),
            ("period", i(period)),
        ]);
        let resp = req.with("limited", i(0)).with("remaining", i(remaining));
        push(ops, 1, "take", inv * MS, (inv + 1) * MS, Type::Ok, req, resp);
    }

    #[test]
    fn within_rate_is_valid_and_burst_is_caught() {
        let mut ops = Vec::new();
        for k in 0..3 {
            take(&mut ops, "b", 1000, k * 10, 2 - k);
        }
        take(&mut ops, "b", 1000, 1500, 0);
        assert_eq!(check(&ops).valid, Validity::Valid);
        for k in 0..4 {
            take(&mut ops, "b", 1000, 1600 + k * 10, 2);
        }
        assert_eq!(check(&ops).valid, Validity::Invalid);
    }

    #[test]
    fn counter_rules() {
        let mut ops = Vec::new();
        for (k, rem) in [2u64, 1, 0].iter().enumerate() {
            take(&mut ops, "c", 1 << 40, k as u64 * 10, *rem);
        }
        assert_eq!(check(&ops).valid, Validity::Valid);
        take(&mut ops, "c", 1 << 40, 100, 2); // reset: a fourth call allowed
        let r = check(&ops);
        let kinds: Vec<_> = r.anomalies.iter().map(|a| a.kind).collect();
        assert!(
            kinds.contains(&"counter-over-capacity") && kinds.contains(&"counter-duplicate"),
            "{kinds:?}"
        );
    }
}
