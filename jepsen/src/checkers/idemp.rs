//! `idemp`: per key, at most one claim's COMPLETE succeeds; every replay ("done" from
//! BEGIN or GET) returns that claim's response; and a new claim ("started") is never
//! granted while an earlier claim's lease certainly still held (lease less the error
//! bound), which is what stops two workers doing the same work. An ABORT ends a claim's
//! lease at once; an acknowledged one is final (no COMPLETE of that claim after it), and
//! a completed or superseded claim's ABORT is refused.

use std::collections::BTreeMap;

use super::{lease_floor_ns, Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

/// Checks every idempotency key in `ops`.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut by_key: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in &ps {
        if let Some(k) = p.req.str("key") {
            by_key.entry(k).or_default().push(p);
        }
    }
    let mut anomalies = Vec::new();
    for (key, ops) in by_key {
        let completes_ok: Vec<&&Pair> = ops.iter().filter(|p| p.f == "complete" && p.typ == Type::Ok).collect();
        let mut winners: Vec<i64> = completes_ok.iter().filter_map(|p| p.req.int("token")).collect();
        winners.sort_unstable();
        winners.dedup();
        if winners.len() > 1 {
            anomalies.push(Anomaly {
                kind: "two-completes",
                at: completes_ok.iter().map(|p| p.ret).max().unwrap_or(0),
                detail: format!("{key}: COMPLETE succeeded for claims {winners:?}"),
            });
        }
        // Responses a replay may return: an acknowledged COMPLETE's, else any sent one's.
        let acked: Vec<&str> = completes_ok.iter().filter_map(|p| p.req.str("response")).collect();
        let sent: Vec<&str> = ops
            .iter()
            .filter(|p| p.f == "complete" && p.typ != Type::Fail)
            .filter_map(|p| p.req.str("response"))
            .collect();
        for p in ops
            .iter()
            .filter(|p| p.typ == Type::Ok && (p.f == "begin" || p.f == "get"))
        {
            let Some(r) = p.resp.str("done") else { continue };
            let fits = if acked.is_empty() {
                sent.contains(&r)
            } else {
                acked.contains(&r)
            };
            if !fits {
                anomalies.push(Anomaly {
                    kind: "bad-replay",
                    at: p.ret,
                    detail: format!("{key}: replay returned {r:?}, acknowledged {acked:?}"),
                });
            }
        }
        // ABORT: a claim's earliest ABORT that may have been applied ends its lease;
        // an acknowledged one is final (no COMPLETE of it after), and only a pending,
        // current claim may be aborted.
        let mut aborted_at: BTreeMap<i64, u64> = BTreeMap::new();
        for a in ops.iter().filter(|p| p.f == "abort" && p.typ != Type::Fail) {
            let t = aborted_at.entry(a.req.int("token").unwrap_or(0)).or_insert(u64::MAX);
            *t = (*t).min(a.inv);
        }
        let aborts_ok: Vec<&&Pair> = ops.iter().filter(|p| p.f == "abort" && p.typ == Type::Ok).collect();
        for c in &completes_ok {
            let t = c.req.int("token");
            if let Some(a) = aborts_ok.iter().find(|a| a.req.int("token") == t && a.ret < c.inv) {
                anomalies.push(Anomaly {
                    kind: "complete-after-abort-accepted",
                    at: c.ret.max(a.ret),
                    detail: format!(
                        "{key}: COMPLETE of claim {} accepted after it was aborted",
                        t.unwrap_or(0)
                    ),
                });
            }
        }
        for a in &aborts_ok {
            let t = a.req.int("token");
            if let Some(c) = completes_ok.iter().find(|c| c.req.int("token") == t && c.ret < a.inv) {
                anomalies.push(Anomaly {
                    kind: "abort-after-complete-accepted",
                    at: a.ret.max(c.ret),
                    detail: format!("{key}: ABORT of claim {} accepted after it completed", t.unwrap_or(0)),
                });
            }
        }
        let mut started: Vec<&&Pair> = ops
            .iter()
            .filter(|p| p.f == "begin" && p.typ == Type::Ok && p.resp.int("started").is_some())
            .collect();
        started.sort_by_key(|p| p.resp.int("started"));
        for (k, b) in started.iter().enumerate() {
            for a in started[..k].iter().rev().take(16) {
                let floor = lease_floor_ns(a.inv, a.req.int("lease").unwrap_or(0) as u64).min(
                    aborted_at
                        .get(&a.resp.int("started").unwrap_or(0))
                        .copied()
                        .unwrap_or(u64::MAX),
                );
                if b.ret < floor {
                    anomalies.push(Anomaly {
                        kind: "started-twice",
                        at: b.ret,
                        detail: format!(
                            "{key}: claim {} started while claim {}'s lease held",
                            b.resp.int("started").unwrap_or(0),
                            a.resp.int("started").unwrap_or(0)
                        ),
                    });
                }
            }
        }
        // A superseded claim's COMPLETE (or ABORT) must be refused.
        if let Some(last) = started.last() {
            let newest = last.resp.int("started").unwrap_or(0);
            for a in &aborts_ok {
                let t = a.req.int("token").unwrap_or(0);
                if t < newest && a.inv > last.ret {
                    anomalies.push(Anomaly {
                        kind: "superseded-abort-accepted",
                        at: a.ret,
                        detail: format!("{key}: ABORT of claim {t} accepted after claim {newest} started"),
                    });
                }
            }
            for c in &completes_ok {
                let t = c.req.int("token").unwrap_or(0);
                if t < newest && c.inv > last.ret {
                    anomalies.push(Anomaly {
                        kind: "superseded-complete-accepted",
                        at: c.ret,
                        detail: format!("{key}: COMPLETE of claim {t} accepted after claim {newest} started"),
                    });
                }
            }
        }
    }
    Report::from("idemp", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s, V};

    const MS: u64 = 1_000_000;
    fn begin(ops: &mut Vec<Op>, p: u64, inv: u64, resp: (&'static str, V)) {
        let req = map(vec![("key", s("k")), ("lease", i(1000))]);
        push(
            ops,
            p,
            "begin",
            inv * MS,
            (inv + 1) * MS,
            Type::Ok,
            req.clone(),
            req.with(resp.0, resp.1),
        );
    }
    fn complete(ops: &mut Vec<Op>, p: u64, inv: u64, token: u64, r: &str, typ: Type) {
        let req = map(vec![("key", s("k")), ("token", i(token)), ("response", s(r))]);
        push(ops, p, "complete", inv * MS, (inv + 1) * MS, typ, req.clone(), req);
    }

    #[test]
    fn one_claim_and_replays_are_valid() {
        let mut ops = Vec::new();
        begin(&mut ops, 1, 0, ("started", i(5)));
        begin(&mut ops, 2, 10, ("pending", i(900)));
        complete(&mut ops, 1, 20, 5, "r1", Type::Ok);
        begin(&mut ops, 2, 30, ("done", s("r1")));
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    fn abort(ops: &mut Vec<Op>, p: u64, inv: u64, token: u64, typ: Type) {
        let req = map(vec![("key", s("k")), ("token", i(token))]);
        push(ops, p, "abort", inv * MS, (inv + 1) * MS, typ, req.clone(), req);
    }

    #[test]
    fn an_aborted_claim_frees_the_key_at_once() {
        let mut ops = Vec::new();
        begin(&mut ops, 1, 0, ("started", i(5)));
        abort(&mut ops, 1, 10, 5, Type::Ok);
        complete(&mut ops, 1, 20, 5, "r1", Type::Fail); // refused: fine
        begin(&mut ops, 2, 30, ("started", i(6))); // well inside 5's lease
        complete(&mut ops, 2, 40, 6, "r2", Type::Ok);
        abort(&mut ops, 2, 50, 6, Type::Fail);
        begin(&mut ops, 3, 60, ("done", s("r2")));
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn accepted_aborts_and_completes_out_of_turn_are_caught() {
        let mut ops = Vec::new();
        begin(&mut ops, 1, 0, ("started", i(5)));
        abort(&mut ops, 1, 10, 5, Type::Ok);
        complete(&mut ops, 1, 20, 5, "r1", Type::Ok);
        abort(&mut ops, 1, 30, 5, Type::Ok);
        let r = check(&ops);
        let kinds: Vec<_> = r.anomalies.iter().map(|a| a.kind).collect();
        for k in ["complete-after-abort-accepted", "abort-after-complete-accepted"] {
            assert!(kinds.contains(&k), "{k} not in {kinds:?}");
        }
        let mut ops = Vec::new();
        begin(&mut ops, 1, 0, ("started", i(5)));
        begin(&mut ops, 2, 1500, ("started", i(6)));
        abort(&mut ops, 1, 1600, 5, Type::Ok);
        let kinds: Vec<_> = check(&ops).anomalies.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["superseded-abort-accepted"]);
    }

    #[test]
    fn second_start_and_bad_replay_are_caught() {
        let mut ops = Vec::new();
        begin(&mut ops, 1, 0, ("started", i(5)));
        begin(&mut ops, 2, 10, ("started", i(6)));
        complete(&mut ops, 1, 20, 5, "r1", Type::Ok);
        complete(&mut ops, 2, 30, 6, "r2", Type::Ok);
        begin(&mut ops, 3, 40, ("done", s("r9")));
        let r = check(&ops);
        let kinds: Vec<_> = r.anomalies.iter().map(|a| a.kind).collect();
        for k in [
            "started-twice",
            "two-completes",
            "bad-replay",
            "superseded-complete-accepted",
        ] {
            assert!(kinds.contains(&k), "{k} not in {kinds:?}");
        }
    }
}
