//! `lock-delay`: a lease taken with `DELAY d` that ends by expiry keeps the lock from
//! everyone, queued waiters included, until `d` after the expiry (SPEC.md, "Lock
//! delay"). From the outside, for a lease L (name, owner, token) granted with `:delay`
//! d > 0 and a grant B of a higher token on that name (so granted after L was over):
//! - if no RELEASE of L that may have been applied (answered 1, or lost) was sent before
//!   B completed, L ended by expiry, and B cannot have been granted before L's end + d;
//! - L's end is counted conservatively, as the `lease` checker counts it: the last
//!   renewal applied (the grant, or an EXTEND answered 1) is one of those sent before B
//!   completed that no other such one certainly followed, or an EXTEND whose answer was
//!   lost (it may have set a shorter TTL); the lease ends no sooner than its invocation +
//!   TTL, and the lock is free no sooner than that + d, both measured on a cluster clock
//!   that may run 1% fast and less 2 ms of stamping slack (`lease_floor_ns` over TTL + d).
//!   The cluster clock stands still without a leader, which only makes the real delay
//!   longer, in the server's favour.
//!
//! So B completing before the least of those bounds is a grant the delay forbade
//! (`delay-not-waited`). A B that completed even before L's plain lease floor is also a
//! `lease-overlap` for the `lease` checker, which this workload runs too. A same-owner
//! ACQUIRE renews with the delay it names; the lease's delay here is the least any of
//! its grants named.

use std::collections::BTreeMap;

use super::{lease_floor_ns, Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

type Key<'a> = (i64, &'a str);

/// One lease's renewals (grants and EXTENDs answered 1), lost EXTENDs, releases that
/// may have been applied (invocations), and delay.
#[derive(Default)]
struct Lease<'a> {
    renewals: Vec<&'a Pair>,
    lost: Vec<&'a Pair>,
    released: Vec<u64>,
    delay_ms: Option<u64>,
}

impl Lease<'_> {
    /// The earliest the lock can be free again after this lease, as seen by a grant
    /// that completed at `by`, when the lease ended by expiry.
    fn free_floor(&self, by: u64) -> Option<u64> {
        let d = self.delay_ms.unwrap_or(0);
        let sent: Vec<&&Pair> = self.renewals.iter().filter(|g| g.inv < by).collect();
        let lost = self.lost.iter().filter(|x| x.inv < by);
        sent.iter()
            .filter(|x| !sent.iter().any(|y| y.inv > x.ret))
            .map(|x| **x)
            .chain(lost.copied())
            .map(|x| lease_floor_ns(x.inv, (x.req.int("ttl").unwrap_or(0) as u64).saturating_add(d)))
            .min()
    }
}

/// Checks every lock name's grants against the delays of the leases before them.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut leases: BTreeMap<&str, BTreeMap<Key, Lease>> = BTreeMap::new();
    let mut grants: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    let mut extends = Vec::new();
    for p in &ps {
        let Some(name) = p.req.str("name") else { continue };
        let owner = p.req.str("owner").unwrap_or("");
        match p.f {
            "acquire" | "acquire-wait" if p.typ == Type::Ok => {
                if let Some(t) = p.resp.int("token") {
                    grants.entry(name).or_default().push(p);
                    let l = leases.entry(name).or_default().entry((t, owner)).or_default();
                    l.renewals.push(p);
                    let d = p.req.int("delay").unwrap_or(0).max(0) as u64;
                    l.delay_ms = Some(l.delay_ms.map_or(d, |x| x.min(d)));
                }
            }
            "extend" => extends.push(p),
            "release" => {
                let maybe = match p.typ {
                    Type::Ok => p.resp.int("released") == Some(1),
                    Type::Info => true,
                    _ => false,
                };
                if maybe {
                    let key = (p.req.int("token").unwrap_or(0), owner);
                    leases
                        .entry(name)
                        .or_default()
                        .entry(key)
                        .or_default()
                        .released
                        .push(p.inv);
                }
            }
            _ => {}
        }
    }
    for p in extends {
        let Some(name) = p.req.str("name") else { continue };
        let key = (p.req.int("token").unwrap_or(0), p.req.str("owner").unwrap_or(""));
        // Only leases a grant was seen for: an EXTEND of anything else changes nothing here.
        let Some(l) = leases.get_mut(name).and_then(|m| m.get_mut(&key)) else {
            continue;
        };
        match p.typ {
            Type::Ok if p.resp.int("extended") == Some(1) => l.renewals.push(p),
            Type::Info => l.lost.push(p),
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    for (name, gs) in grants {
        let Some(ls) = leases.get(name) else { continue };
        let keys: Vec<Key> = ls.keys().copied().filter(|k| ls[k].delay_ms.is_some()).collect();
        for b in gs {
            let tb = b.resp.int("token").unwrap_or(0);
            let ob = b.req.str("owner").unwrap_or("");
            let before = keys.partition_point(|k| k.0 < tb);
            for &(ta, oa) in keys[..before].iter().rev().take(64) {
                let l = &ls[&(ta, oa)];
                if l.delay_ms.unwrap_or(0) == 0 || l.released.iter().any(|&r| r < b.ret) {
                    continue;
                }
                let Some(floor) = l.free_floor(b.ret) else { continue };
                if b.ret < floor {
                    anomalies.push(Anomaly {
                        kind: "delay-not-waited",
                        at: b.ret,
                        detail: format!(
                            "{name}: {ob} granted token {tb} ({}) {} ms before {oa}'s lease (token {ta}, never released) plus its {} ms delay could be over",
                            b.f,
                            (floor - b.ret) / 1_000_000,
                            l.delay_ms.unwrap_or(0)
                        ),
                    });
                }
            }
        }
    }
    Report::from("lock-delay", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s, V};

    const MS: u64 = 1_000_000;
    #[allow(clippy::too_many_arguments)] // one grant's every field, for hand-built histories
    fn grant(
        ops: &mut Vec<Op>,
        p: u64,
        f: &'static str,
        owner: &str,
        inv: u64,
        ret: u64,
        token: u64,
        ttl: u64,
        delay: u64,
    ) {
        let req = map(vec![
            ("name", s("l")),
            ("owner", s(owner)),
            ("ttl", i(ttl)),
            ("delay", i(delay)),
        ]);
        push(
            ops,
            p,
            f,
            inv * MS,
            ret * MS,
            Type::Ok,
            req.clone(),
            req.with("token", i(token)),
        );
    }
    fn call01(ops: &mut Vec<Op>, f: &'static str, inv: u64, typ: Type, answer: Option<u64>) {
        let req = map(vec![
            ("name", s("l")),
            ("owner", s("a")),
            ("token", i(1)),
            ("ttl", i(500)),
        ]);
        let key = if f == "extend" { "extended" } else { "released" };
        let resp = req.with(key, answer.map(i).unwrap_or(V::Nil));
        push(ops, 1, f, inv * MS, (inv + 1) * MS, typ, req, resp);
    }
    fn kinds(ops: &[Op]) -> Vec<&'static str> {
        check(ops).anomalies.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn grants_after_the_delay_or_a_release_are_valid() {
        // a's 500 ms lease with a 1000 ms delay, abandoned: free from 1500 ms (less slack).
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        grant(&mut ops, 2, "acquire", "b", 1490, 1495, 2, 500, 1000);
        assert_eq!(check(&ops).valid, Validity::Valid);
        // Released: no delay, the next owner may come at once.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        call01(&mut ops, "release", 100, Type::Ok, Some(1));
        grant(&mut ops, 2, "acquire", "b", 150, 155, 2, 500, 1000);
        assert_eq!(check(&ops).valid, Validity::Valid);
        // A release whose answer was lost may have ended the lease: excused.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        call01(&mut ops, "release", 100, Type::Info, None);
        grant(&mut ops, 2, "acquire", "b", 600, 605, 2, 500, 1000);
        assert_eq!(check(&ops).valid, Validity::Valid);
        // No delay asked: expiry frees the lock at once.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 0);
        grant(&mut ops, 2, "acquire", "b", 600, 605, 2, 500, 1000);
        assert_eq!(check(&ops).valid, Validity::Valid);
        // A lost EXTEND may have set a shorter lease (here 300 ms from 10 ms).
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 1000, 1000);
        let req = map(vec![
            ("name", s("l")),
            ("owner", s("a")),
            ("token", i(1)),
            ("ttl", i(300)),
        ]);
        push(&mut ops, 1, "extend", 10 * MS, 11 * MS, Type::Info, req.clone(), req);
        grant(&mut ops, 2, "acquire", "b", 1300, 1305, 2, 500, 1000);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn a_grant_inside_the_delay_is_caught() {
        // Right at expiry, as the `delay-ignored` bug hands it on.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        grant(&mut ops, 2, "acquire", "b", 510, 515, 2, 500, 1000);
        assert_eq!(kinds(&ops), ["delay-not-waited"]);
        // A queued waiter must wait out the delay as well.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        grant(&mut ops, 2, "acquire-wait", "b", 100, 700, 2, 500, 0);
        assert_eq!(kinds(&ops), ["delay-not-waited"]);
        // A release answered 0 ended nothing: the lease had expired, the delay holds.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        call01(&mut ops, "release", 600, Type::Ok, Some(0));
        grant(&mut ops, 2, "acquire", "b", 700, 705, 2, 500, 1000);
        assert_eq!(kinds(&ops), ["delay-not-waited"]);
        // Every later grant counts, not just the next one.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        grant(&mut ops, 2, "acquire", "b", 510, 515, 2, 100, 0);
        grant(&mut ops, 3, "acquire", "c", 700, 705, 3, 100, 0);
        assert_eq!(kinds(&ops), ["delay-not-waited", "delay-not-waited"]);
    }

    #[test]
    fn an_acknowledged_extend_moves_the_end_and_the_delay() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        call01(&mut ops, "extend", 400, Type::Ok, Some(1));
        grant(&mut ops, 2, "acquire", "b", 1600, 1605, 2, 500, 1000);
        assert_eq!(kinds(&ops), ["delay-not-waited"]);
        // Answered 0: nothing moved.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "acquire", "a", 0, 5, 1, 500, 1000);
        call01(&mut ops, "extend", 400, Type::Ok, Some(0));
        grant(&mut ops, 2, "acquire", "b", 1600, 1605, 2, 500, 1000);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }
}
