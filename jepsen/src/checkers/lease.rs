//! `lease`: a grant to another owner never completes before the previous grant's
//! invocation + TTL (less the error bound of `lease_floor_ns`), unless the previous
//! holder had sent a RELEASE by then. An EXTEND answered 1 restarts the lease from its
//! invocation, as a same-owner re-acquire does.

use std::collections::BTreeMap;

use super::{lease_floor_ns, Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

/// The earliest the lease made by `grants` (one owner, one token) can end, as seen by
/// an op that completed at `by`: the last grant applied before it is one of those sent
/// by then that no other such grant certainly followed; its lease ends no sooner than
/// its invocation + TTL. The least of those candidates is a sound bound.
fn lease_end_floor(grants: &[&Pair], by: u64) -> Option<u64> {
    let sent: Vec<&&Pair> = grants.iter().filter(|g| g.inv < by).collect();
    sent.iter()
        .filter(|x| !sent.iter().any(|y| y.inv > x.ret))
        .map(|x| lease_floor_ns(x.inv, x.req.int("ttl").unwrap_or(0) as u64))
        .min()
}

/// Checks every lock name's grants against the leases of earlier tokens.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut grants: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    let mut releases: BTreeMap<(&str, &str, i64), u64> = BTreeMap::new();
    // EXTENDs answered 1: each restarts its lease with its own TTL, as a re-acquire does.
    let mut renewals: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in &ps {
        let Some(name) = p.req.str("name") else { continue };
        match p.f {
            "acquire" | "acquire-wait" if p.typ == Type::Ok && p.resp.int("token").is_some() => {
                grants.entry(name).or_default().push(p)
            }
            "extend" if p.typ == Type::Ok && p.resp.int("extended") == Some(1) => {
                renewals.entry(name).or_default().push(p)
            }
            "extend" if p.typ == Type::Ok => {}
            "release" | "extend" if p.typ != Type::Fail => {
                // Any release sent (acknowledged or not) may have ended the lease then;
                // an EXTEND whose answer was lost may have shortened it (a shorter TTL),
                // so it excuses as well.
                let key = (name, p.req.str("owner").unwrap_or(""), p.req.int("token").unwrap_or(0));
                let t = releases.entry(key).or_insert(u64::MAX);
                *t = (*t).min(p.inv);
            }
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    for (name, gs) in grants {
        // One lease per (owner, token): the first grant and its same-owner re-acquires,
        // each of which restarts the lease with its own TTL (possibly a shorter one).
        let mut leases: BTreeMap<(i64, &str), Vec<&Pair>> = BTreeMap::new();
        for g in &gs {
            leases
                .entry((g.resp.int("token").unwrap_or(0), g.req.str("owner").unwrap_or("")))
                .or_default()
                .push(g);
        }
        for x in renewals.get(name).map(Vec::as_slice).unwrap_or_default() {
            let key = (x.req.int("token").unwrap_or(0), x.req.str("owner").unwrap_or(""));
            if let Some(l) = leases.get_mut(&key) {
                l.push(x);
            }
        }
        let keys: Vec<(i64, &str)> = leases.keys().copied().collect();
        for b in &gs {
            let tb = b.resp.int("token").unwrap_or(0);
            let ob = b.req.str("owner").unwrap_or("");
            let before = keys.partition_point(|k| k.0 < tb);
            for &(ta, oa) in keys[..before].iter().rev().take(64) {
                if oa == ob {
                    continue;
                }
                let Some(floor) = lease_end_floor(&leases[&(ta, oa)], b.ret) else {
                    continue;
                };
                let released = releases.get(&(name, oa, ta)).is_some_and(|&r| r < b.ret);
                if b.ret < floor && !released {
                    anomalies.push(Anomaly {
                        kind: "lease-overlap",
                        at: b.ret,
                        detail: format!(
                            "{name}: {ob} granted token {tb} {} ms before {oa}'s lease (token {ta}) could end",
                            (floor - b.ret) / 1_000_000
                        ),
                    });
                }
            }
        }
    }
    Report::from("lease", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s};

    const MS: u64 = 1_000_000;
    fn grant(ops: &mut Vec<Op>, p: u64, owner: &str, inv: u64, ret: u64, token: u64) {
        let req = map(vec![("name", s("l")), ("owner", s(owner)), ("ttl", i(1000))]);
        push(
            ops,
            p,
            "acquire",
            inv * MS,
            ret * MS,
            Type::Ok,
            req.clone(),
            req.with("token", i(token)),
        );
    }

    #[test]
    fn grants_after_the_lease_or_a_release_are_valid() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5, 1);
        grant(&mut ops, 2, "b", 1000, 1005, 2);
        let req = map(vec![("name", s("l")), ("owner", s("b")), ("token", i(2))]);
        push(&mut ops, 2, "release", 1100 * MS, 1101 * MS, Type::Ok, req.clone(), req);
        grant(&mut ops, 3, "c", 1200, 1205, 3);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn an_acknowledged_extend_moves_the_lease_end() {
        let extend = |ops: &mut Vec<Op>, inv: u64, answer: u64| {
            let req = map(vec![
                ("name", s("l")),
                ("owner", s("a")),
                ("token", i(1)),
                ("ttl", i(1000)),
            ]);
            push(
                ops,
                1,
                "extend",
                inv * MS,
                (inv + 1) * MS,
                Type::Ok,
                req.clone(),
                req.with("extended", i(answer)),
            );
        };
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5, 1);
        extend(&mut ops, 800, 0);
        grant(&mut ops, 2, "b", 1200, 1205, 2);
        assert_eq!(check(&ops).valid, Validity::Valid);
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5, 1);
        extend(&mut ops, 800, 1);
        grant(&mut ops, 2, "b", 1200, 1205, 2);
        assert_eq!(check(&ops).valid, Validity::Invalid);
    }

    #[test]
    fn early_grant_is_caught() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5, 1);
        grant(&mut ops, 2, "b", 300, 305, 2);
        let r = check(&ops);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.anomalies[0].kind, "lease-overlap");
        // A re-acquire restarts the lease: a later one extends it, a shorter one ends
        // it sooner (the false alarm this rule exists for).
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5, 1);
        grant(&mut ops, 1, "a", 100, 105, 1);
        grant(&mut ops, 2, "b", 1050, 1055, 2);
        assert_eq!(check(&ops).valid, Validity::Invalid);
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5, 1);
        let req = map(vec![("name", s("l")), ("owner", s("a")), ("ttl", i(300))]);
        push(
            &mut ops,
            1,
            "acquire",
            100 * MS,
            105 * MS,
            Type::Ok,
            req.clone(),
            req.with("token", i(1)),
        );
        grant(&mut ops, 2, "b", 450, 455, 2);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }
}
