//! `sliding`: RATELIMIT SLIDING admits at most `limit` calls in any window of
//! `window` ms of cluster time, and refuses only when it must.
//!
//! - Over-admission: a set of admitted calls whose whole span, from the earliest
//!   invocation to the latest completion, is shorter than the window less the clock
//!   bound (`lease_floor_ns`) was certainly applied within one window (the cluster clock
//!   never runs more than 1% fast); more than `limit` of them is an anomaly.
//! - Refusal: a refused call is justified when at least `limit` admissions (acknowledged,
//!   or lost replies that may have admitted) may have been applied within the window
//!   before it. The cluster clock stands still while there is no leader, so the window
//!   reaches back in real time by the window plus 1%, plus every stretch of real time
//!   in which a fault was active or up to 5 s after it healed (elections).

use std::collections::BTreeMap;

use super::{lease_floor_ns, Anomaly, Report};
use crate::history::{pairs, Op, Pair, Proc, Type};

/// Time after a fault heals during which the cluster may still have had no leader.
const RECOVERY_NS: u64 = 5_000_000_000;

/// Checks every sliding-window key in `ops`.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let stalls = fault_spans(ops);
    let mut by_key: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in ps.iter().filter(|p| p.f == "slide" && p.typ != Type::Fail) {
        if let Some(k) = p.req.str("key") {
            by_key.entry(k).or_default().push(p);
        }
    }
    let mut anomalies = Vec::new();
    for (key, calls) in by_key {
        let limit = calls[0].req.int("limit").unwrap_or(0) as usize;
        let window = calls[0].req.int("window").unwrap_or(0) as u64;
        over_admitted(key, limit, window, &calls, &mut anomalies);
        refused_wrongly(key, limit, window, &calls, &stalls, &mut anomalies);
    }
    Report::from("sliding", anomalies)
}

/// Real-time spans in which the cluster may have had no leader: each fault from its
/// start to its stop plus `RECOVERY_NS`.
fn fault_spans(ops: &[Op]) -> Vec<(u64, u64)> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for o in ops.iter().filter(|o| o.process == Proc::Nemesis) {
        if let Some(kind) = o.f.strip_prefix("start-") {
            open.entry(kind).or_insert(o.time);
        } else if let Some(kind) = o.f.strip_prefix("stop-") {
            if let Some(t) = open.remove(kind) {
                out.push((t, o.time + RECOVERY_NS));
            }
        }
    }
    // A fault never stopped (the run ended first) lasts to the end.
    out.extend(open.values().map(|&t| (t, u64::MAX)));
    out
}

fn over_admitted(key: &str, limit: usize, window: u64, calls: &[&Pair], out: &mut Vec<Anomaly>) {
    let mut ok: Vec<&&Pair> = calls
        .iter()
        .filter(|p| p.typ == Type::Ok && p.resp.int("limited") == Some(0))
        .collect();
    ok.sort_by_key(|p| p.inv);
    let mut worst: Option<(u64, u64, usize)> = None;
    for (a, start) in ok.iter().enumerate() {
        let bound = lease_floor_ns(start.inv, window);
        let inside = ok[a..]
            .iter()
            .take_while(|p| p.inv < bound)
            .filter(|p| p.ret <= bound)
            .count();
        if inside > limit && worst.is_none_or(|w| inside > w.2) {
            worst = Some((start.inv, bound, inside));
        }
    }
    if let Some((from, to, n)) = worst {
        out.push(Anomaly {
            kind: "sliding-over-limit",
            at: to,
            detail: format!(
                "{key}: {n} calls admitted within {} ms of real time, limit {limit} per {window} ms",
                (to - from) / 1_000_000
            ),
        });
    }
}

fn refused_wrongly(
    key: &str,
    limit: usize,
    window: u64,
    calls: &[&Pair],
    stalls: &[(u64, u64)],
    out: &mut Vec<Anomaly>,
) {
    // Admissions that may have happened: acknowledged ones and lost replies.
    let maybe: Vec<&&Pair> = calls
        .iter()
        .filter(|p| p.typ == Type::Info || p.resp.int("limited") == Some(0))
        .collect();
    let base = (window + window / 100 + 2) * 1_000_000;
    for r in calls
        .iter()
        .filter(|p| p.typ == Type::Ok && p.resp.int("limited") == Some(1))
    {
        // Grow the look-back by the stalls it overlaps until it settles.
        let mut back = base;
        for _ in 0..20 {
            let from = r.inv.saturating_sub(back);
            let stalled: u64 = stalls
                .iter()
                .map(|&(a, b)| b.min(r.inv).saturating_sub(a.max(from)))
                .sum();
            if base + stalled <= back {
                break;
            }
            back = base + stalled;
        }
        let from = r.inv.saturating_sub(back);
        let n = maybe.iter().filter(|p| p.inv < r.ret && p.ret > from).count();
        if n < limit {
            out.push(Anomaly {
                kind: "sliding-refused-under-limit",
                at: r.ret,
                detail: format!(
                    "{key}: refused with only {n} admissions possible in the {} ms before it, limit {limit}",
                    back / 1_000_000
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
    use crate::history::{i, map, s, V};

    const MS: u64 = 1_000_000;
    fn call(ops: &mut Vec<Op>, inv: u64, limited: u64) {
        let req = map(vec![("key", s("k")), ("limit", i(3)), ("window", i(1000))]);
        push(
            ops,
            1,
            "slide",
            inv * MS,
            (inv + 2) * MS,
            Type::Ok,
            req.clone(),
            req.with("limited", i(limited)),
        );
    }

    #[test]
    fn limit_per_window_and_justified_refusals_are_valid() {
        let mut ops = Vec::new();
        for t in [0, 100, 200] {
            call(&mut ops, t, 0);
        }
        call(&mut ops, 300, 1);
        call(&mut ops, 1010, 0); // the first admission has left the window
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn too_many_admissions_and_needless_refusals_are_caught() {
        let mut ops = Vec::new();
        for t in [0, 100, 200, 600] {
            call(&mut ops, t, 0);
        }
        let r = check(&ops);
        assert_eq!(
            r.anomalies.iter().map(|a| a.kind).collect::<Vec<_>>(),
            ["sliding-over-limit"]
        );
        let mut ops = Vec::new();
        call(&mut ops, 0, 0);
        call(&mut ops, 100, 1);
        let r = check(&ops);
        assert_eq!(
            r.anomalies.iter().map(|a| a.kind).collect::<Vec<_>>(),
            ["sliding-refused-under-limit"]
        );
    }

    #[test]
    fn a_fault_stretches_the_window_a_refusal_may_count() {
        let mut ops = Vec::new();
        for t in [0, 100, 200] {
            call(&mut ops, t, 0);
        }
        call(&mut ops, 2500, 1); // 2.5 s later: justified only if the clock may have stood still
        assert_eq!(check(&ops).valid, Validity::Invalid);
        for (f, t) in [("start-partition", 300), ("stop-partition", 400)] {
            ops.push(Op {
                index: ops.len(),
                time: t * MS,
                typ: Type::Info,
                process: Proc::Nemesis,
                f,
                value: V::Nil,
            });
        }
        ops.sort_by_key(|o| o.time);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }
}
