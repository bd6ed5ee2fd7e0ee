//! `lock-fence`: the etcd lock-set test with fencing. Each holder reads a resource's
//! list, appends its element and writes it back with FENCE SET ... LOCK. Then:
//! every acknowledged element is in the final read, acknowledged writes form one chain
//! (each is a prefix of the final list), no element appears twice, a write whose
//! token is below one already accepted (by a write or a FENCE ADVANCE) earlier in real
//! time is never accepted, and a
//! read holds every element acknowledged before it was sent (no stale read).
//!
//! The same list checks judge `lock-unfenced` (see `register.rs`), with no token rule.

use std::collections::{BTreeMap, HashSet};

use super::{Anomaly, Report, Validity};
use crate::history::{pairs, Op, Pair, Type, V};

/// The list of elements an op value carries under `key`.
pub fn elements(v: &V, key: &str) -> Option<Vec<i64>> {
    match v.get(key) {
        Some(V::Vec(items)) => Some(
            items
                .iter()
                .filter_map(|x| match x {
                    V::Int(n) => Some(*n),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The list checks shared with `lock-unfenced`; `tokens` adds the fence's own rule.
pub fn check_lists(ops: &[Op], checker: &'static str, tokens: bool) -> Report {
    let ps = pairs(ops);
    let mut writes: BTreeMap<String, Vec<&Pair>> = BTreeMap::new();
    let mut finals: BTreeMap<String, Option<Vec<i64>>> = BTreeMap::new();
    let mut reads: BTreeMap<String, Vec<&Pair>> = BTreeMap::new();
    // FENCE ADVANCE raises the fence as a write does, without a value.
    let mut advances: BTreeMap<String, Vec<&Pair>> = BTreeMap::new();
    for p in &ps {
        let Some(res) = p.req.str("res") else { continue };
        if p.typ == Type::Ok && matches!(p.f, "read" | "peek" | "final-read") {
            reads.entry(res.to_string()).or_default().push(p);
        }
        match p.f {
            "write" => writes.entry(res.to_string()).or_default().push(p),
            "advance" => advances.entry(res.to_string()).or_default().push(p),
            "final-read" => {
                let v = (p.typ == Type::Ok).then(|| elements(&p.resp, "elements").unwrap_or_default());
                let slot = finals.entry(res.to_string()).or_insert(None);
                if v.is_some() {
                    *slot = v;
                }
            }
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    let mut unknown = Vec::new();
    for (res, ws) in &writes {
        let acked: Vec<&&Pair> = ws.iter().filter(|p| p.typ == Type::Ok).collect();
        // Every op that carries a token to the fence: writes and advances.
        let fenced: Vec<&Pair> = ws
            .iter()
            .chain(advances.get(res).map(Vec::as_slice).unwrap_or_default())
            .copied()
            .collect();
        if tokens {
            // A write or advance accepted although an accepted one with a higher token
            // had completed before it was sent: the fence let a stale holder through.
            let mut by_ret: Vec<&Pair> = fenced.iter().copied().filter(|p| p.typ == Type::Ok).collect();
            by_ret.sort_by_key(|p| p.ret);
            for w in &by_ret {
                let t = w.req.int("token").unwrap_or(0);
                if let Some(h) = by_ret
                    .iter()
                    .take_while(|x| x.ret < w.inv)
                    .find(|x| x.req.int("token").unwrap_or(0) > t)
                {
                    anomalies.push(Anomaly {
                        kind: "stale-write-accepted",
                        at: w.ret,
                        detail: format!(
                            "{res}: {} with token {t} accepted after token {} was",
                            w.f,
                            h.req.int("token").unwrap_or(0)
                        ),
                    });
                }
            }
        }
        if tokens {
            // Acknowledged fenced writes form one chain, so every later state holds
            // them all: a read sent after an acknowledgement must show its element.
            // (Unfenced writers clobber each other by design; that is not a stale read.)
            for r in reads.get(res).map(Vec::as_slice).unwrap_or_default() {
                let got: HashSet<i64> = elements(&r.resp, "elements").unwrap_or_default().into_iter().collect();
                let missed: Vec<i64> = acked
                    .iter()
                    .filter(|w| w.ret < r.inv)
                    .filter_map(|w| w.req.int("element"))
                    .filter(|e| !got.contains(e))
                    .collect();
                if let Some(e) = missed.first() {
                    anomalies.push(Anomaly {
                        kind: "stale-read",
                        at: r.ret,
                        detail: format!(
                            "{res}: {} missed element {e}, acknowledged before it was sent ({} such)",
                            r.f,
                            missed.len()
                        ),
                    });
                }
            }
        }
        if tokens {
            // The other half of "accepts a token exactly when it is >= the highest seen":
            // a refusal as older must name a highest token some write had already sent.
            for w in fenced.iter().filter(|p| p.typ == Type::Fail) {
                let Some(err) = w.resp.str("error") else { continue };
                let Some(h) = err.rsplit("< ").next().and_then(|x| x.trim().parse::<i64>().ok()) else {
                    continue;
                };
                if !err.contains(" < ") {
                    continue;
                }
                let t = w.req.int("token").unwrap_or(0);
                let seen = fenced.iter().any(|x| x.inv < w.ret && x.req.int("token") == Some(h));
                if t >= h || !seen {
                    anomalies.push(Anomaly {
                        kind: "stale-refusal-wrong",
                        at: w.ret,
                        detail: format!("{res}: token {t} refused as older than {h} ({err})"),
                    });
                }
            }
        }
        let Some(Some(final_list)) = finals.get(res) else {
            unknown.push(res.clone());
            continue;
        };
        let mut seen = HashSet::new();
        for e in final_list {
            if !seen.insert(*e) {
                anomalies.push(Anomaly {
                    kind: "duplicate-element",
                    at: 0,
                    detail: format!("{res}: element {e} twice in the final read"),
                });
            }
        }
        for w in &acked {
            let Some(list) = elements(&w.req, "elements") else {
                continue;
            };
            let e = w.req.int("element").unwrap_or(-1);
            if !seen.contains(&e) {
                anomalies.push(Anomaly {
                    kind: "lost-write",
                    at: w.ret,
                    detail: format!("{res}: acknowledged element {e} missing from the final read"),
                });
            } else if final_list.get(..list.len()) != Some(&list[..]) {
                anomalies.push(Anomaly {
                    kind: "not-a-chain",
                    at: w.ret,
                    detail: format!("{res}: acknowledged write {list:?} is not a prefix of the final list"),
                });
            }
        }
    }
    let mut r = Report::from(checker, anomalies);
    if r.valid == Validity::Valid && !unknown.is_empty() {
        r.valid = Validity::Unknown;
        r.note = format!("no final read of {}", unknown.join(","));
    }
    r
}

/// `lock-fence`'s checker.
pub fn check(ops: &[Op]) -> Report {
    check_lists(ops, "lock-fence", true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::history::{i, map, s, Proc};

    #[allow(clippy::too_many_arguments)] // one op's every field, for hand-built histories
    pub fn push(ops: &mut Vec<Op>, p: u64, f: &'static str, inv: u64, ret: u64, typ: Type, req: V, resp: V) {
        for (t, ty, v) in [(inv, Type::Invoke, req), (ret, typ, resp)] {
            ops.push(Op {
                index: ops.len(),
                time: t,
                typ: ty,
                process: Proc::Client(p),
                f,
                value: v,
            });
        }
    }
    pub fn write(ops: &mut Vec<Op>, p: u64, inv: u64, ret: u64, token: u64, list: &[i64], typ: Type) {
        let req = map(vec![
            ("res", s("r")),
            ("token", i(token)),
            ("element", V::Int(*list.last().unwrap_or(&0))),
            ("elements", V::Vec(list.iter().map(|x| V::Int(*x)).collect())),
        ]);
        push(ops, p, "write", inv, ret, typ, req.clone(), req);
    }
    pub fn final_read(ops: &mut Vec<Op>, t: u64, list: &[i64]) {
        let req = map(vec![("res", s("r"))]);
        let resp = req.with("elements", V::Vec(list.iter().map(|x| V::Int(*x)).collect()));
        push(ops, 99, "final-read", t, t + 1, Type::Ok, req, resp);
    }

    #[test]
    fn chain_of_fenced_writes_is_valid() {
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        write(&mut ops, 2, 20, 30, 7, &[1, 2], Type::Ok);
        write(&mut ops, 3, 31, 32, 6, &[1, 3], Type::Fail); // refused: fine
        final_read(&mut ops, 100, &[1, 2]);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn stale_accepted_and_lost_writes_are_caught() {
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        write(&mut ops, 2, 20, 30, 7, &[1, 2], Type::Ok);
        write(&mut ops, 3, 31, 32, 6, &[1, 3], Type::Ok); // stale holder let through
        final_read(&mut ops, 100, &[1, 3]);
        let r = check(&ops);
        assert_eq!(r.valid, Validity::Invalid);
        let kinds: Vec<_> = r.anomalies.iter().map(|a| a.kind).collect();
        assert!(kinds.contains(&"stale-write-accepted"), "{kinds:?}");
        assert!(kinds.contains(&"lost-write"), "{kinds:?}");
    }

    #[test]
    fn refusal_must_name_a_token_that_was_sent() {
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 7, &[1], Type::Ok);
        let req = map(vec![
            ("res", s("r")),
            ("token", i(5)),
            ("element", V::Int(2)),
            ("elements", V::Vec(vec![])),
        ]);
        push(
            &mut ops,
            2,
            "write",
            20,
            30,
            Type::Fail,
            req.clone(),
            req.with("error", s("STALE r token 5 < 7")),
        );
        final_read(&mut ops, 100, &[1]);
        assert_eq!(check(&ops).valid, Validity::Valid);
        let req = map(vec![
            ("res", s("r")),
            ("token", i(8)),
            ("element", V::Int(3)),
            ("elements", V::Vec(vec![])),
        ]);
        push(
            &mut ops,
            3,
            "write",
            40,
            50,
            Type::Fail,
            req.clone(),
            req.with("error", s("STALE r token 8 < 7")),
        );
        assert_eq!(check(&ops).valid, Validity::Invalid);
    }

    #[test]
    fn a_read_missing_an_earlier_acknowledged_element_is_stale() {
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        write(&mut ops, 2, 20, 30, 7, &[1, 2], Type::Ok);
        let req = map(vec![("res", s("r"))]);
        let seen = |list: &[i64]| req.with("elements", V::Vec(list.iter().map(|x| V::Int(*x)).collect()));
        // Sent while write 2 was in flight: may or may not see it.
        push(&mut ops, 3, "peek", 25, 26, Type::Ok, req.clone(), seen(&[1]));
        final_read(&mut ops, 100, &[1, 2]);
        assert_eq!(check(&ops).valid, Validity::Valid);
        // Sent after write 2 was acknowledged: must see it.
        push(&mut ops, 3, "peek", 40, 41, Type::Ok, req.clone(), seen(&[1]));
        let r = check(&ops);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.anomalies[0].kind, "stale-read", "{:?}", r.anomalies);
    }

    #[test]
    fn a_write_below_an_accepted_advance_must_be_refused() {
        let advance = |ops: &mut Vec<Op>, inv: u64, token: u64, typ: Type| {
            let req = map(vec![("res", s("r")), ("token", i(token))]);
            push(ops, 4, "advance", inv, inv + 5, typ, req.clone(), req);
        };
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        advance(&mut ops, 20, 9, Type::Ok);
        write(&mut ops, 2, 30, 40, 7, &[1, 2], Type::Fail);
        write(&mut ops, 3, 50, 60, 9, &[1, 3], Type::Ok);
        final_read(&mut ops, 100, &[1, 3]);
        assert_eq!(check(&ops).valid, Validity::Valid);
        write(&mut ops, 2, 70, 80, 8, &[1, 3, 4], Type::Ok); // below the advance: stale
        let r = check(&ops);
        assert!(
            r.anomalies.iter().any(|a| a.kind == "stale-write-accepted"),
            "{:?}",
            r.anomalies
        );
        let mut ops = Vec::new();
        advance(&mut ops, 0, 9, Type::Ok);
        advance(&mut ops, 20, 7, Type::Ok); // an advance below an accepted one
        write(&mut ops, 1, 30, 40, 9, &[1], Type::Ok);
        final_read(&mut ops, 100, &[1]);
        assert_eq!(check(&ops).valid, Validity::Invalid);
    }

    #[test]
    fn missing_final_read_is_unknown() {
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        assert_eq!(check(&ops).valid, Validity::Unknown);
    }
}
