//! `semaphore`: at no instant do the permits of leases that certainly held exceed the
//! limit (spans from `held.rs`: grant completion to the earliest possible release or
//! lease end), and the queue is FIFO where the history can tell: a WAIT acquire that
//! SEMAPHORE INFO showed queued is never overtaken by an acquire sent after that INFO.
//!
//! "Showed queued": an INFO whose waiter count equals the number of WAIT acquires that
//! could have been queued at its linearization point (sent before it returned, not
//! answered before it was sent, lost replies included). Every queue place belongs to
//! one of those, so then each of them was queued. Tokens are issued in grant order, so
//! "overtaken" is a grant with a lower token. Token uniqueness and order across names
//! are the `tokens` checker's.

use std::collections::{BTreeMap, HashSet};

use super::held::{leases, overfull};
use super::{Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

/// Checks every semaphore name in `ops`.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut anomalies = Vec::new();
    for (name, at, used, limit, owners) in overfull(&leases(&ps)) {
        anomalies.push(Anomaly {
            kind: "semaphore-overfull",
            at,
            detail: format!("{name}: {used} permits certainly held at once, limit {limit}: {owners:?}"),
        });
    }
    let mut by_name: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in &ps {
        if let Some(n) = p.req.str("name") {
            by_name.entry(n).or_default().push(p);
        }
    }
    for (name, sub) in by_name {
        fifo(name, &sub, &mut anomalies);
    }
    Report::from("semaphore", anomalies)
}

fn fifo(name: &str, ps: &[&Pair], out: &mut Vec<Anomaly>) {
    let waits: Vec<&&Pair> = ps
        .iter()
        .filter(|p| p.f == "acquire-wait" && p.typ != Type::Fail)
        .collect();
    // First grants (a later grant of the same holder would be a renewal, old token).
    let mut seen = HashSet::new();
    let mut grants: Vec<(&Pair, i64)> = Vec::new();
    let mut by_ret: Vec<&&Pair> = ps
        .iter()
        .filter(|p| matches!(p.f, "acquire" | "acquire-wait") && p.typ == Type::Ok)
        .collect();
    by_ret.sort_by_key(|p| p.ret);
    for p in by_ret {
        if let Some(t) = p.resp.int("token") {
            if seen.insert(p.req.str("owner").unwrap_or("")) {
                grants.push((p, t));
            }
        }
    }
    let mut reported = HashSet::new();
    for i in ps.iter().filter(|p| p.f == "sem-info" && p.typ == Type::Ok) {
        let maybe: Vec<&&&Pair> = waits.iter().filter(|a| a.inv < i.ret && a.ret > i.inv).collect();
        let shown = i.resp.int("waiters").unwrap_or(-1);
        if maybe.is_empty() || shown != maybe.len() as i64 {
            continue;
        }
        for a in maybe {
            let Some(ta) = (a.typ == Type::Ok).then(|| a.resp.int("token")).flatten() else {
                continue;
            };
            let jumped = grants.iter().find(|(c, tc)| c.inv > i.ret && *tc < ta);
            if let Some((c, tc)) = jumped {
                if reported.insert((ta, *tc)) {
                    out.push(Anomaly {
                        kind: "semaphore-queue-jumped",
                        at: a.ret.max(c.ret),
                        detail: format!(
                            "{name}: {} was queued (INFO showed all {shown} waiters) when {} asked, yet got token {ta} after its {tc}",
                            a.req.str("owner").unwrap_or(""),
                            c.req.str("owner").unwrap_or("")
                        ),
                    });
                }
            }
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
    #[allow(clippy::too_many_arguments)] // one grant's every field, for hand-built histories
    fn acq(
        ops: &mut Vec<Op>,
        p: u64,
        f: &'static str,
        owner: &str,
        count: u64,
        inv: u64,
        ret: u64,
        token: Option<u64>,
    ) {
        let req = map(vec![
            ("name", s("sem")),
            ("owner", s(owner)),
            ("limit", i(5)),
            ("ttl", i(1000)),
            ("count", i(count)),
        ]);
        let resp = req.with("token", token.map(i).unwrap_or(V::Nil));
        push(ops, p, f, inv * MS, ret * MS, Type::Ok, req, resp);
    }
    fn release(ops: &mut Vec<Op>, p: u64, owner: &str, token: u64, inv: u64) {
        let req = map(vec![("name", s("sem")), ("owner", s(owner)), ("token", i(token))]);
        push(
            ops,
            p,
            "release",
            inv * MS,
            (inv + 1) * MS,
            Type::Ok,
            req.clone(),
            req.with("released", i(1)),
        );
    }
    fn info(ops: &mut Vec<Op>, inv: u64, waiters: u64) {
        let req = map(vec![("name", s("sem"))]);
        push(
            ops,
            9,
            "sem-info",
            inv * MS,
            (inv + 1) * MS,
            Type::Ok,
            req.clone(),
            req.with("waiters", i(waiters)),
        );
    }

    #[test]
    fn within_the_limit_and_in_queue_order_is_valid() {
        let mut ops = Vec::new();
        acq(&mut ops, 1, "acquire", "a", 3, 0, 5, Some(10));
        acq(&mut ops, 2, "acquire", "b", 2, 6, 8, Some(11));
        acq(&mut ops, 3, "acquire", "c", 1, 9, 10, None);
        acq(&mut ops, 4, "acquire-wait", "d", 3, 20, 105, Some(14));
        info(&mut ops, 30, 1);
        release(&mut ops, 1, "a", 10, 100);
        acq(&mut ops, 5, "acquire", "e", 1, 1100, 1105, Some(15));
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn overfull_permits_are_caught() {
        let mut ops = Vec::new();
        acq(&mut ops, 1, "acquire", "a", 3, 0, 5, Some(10));
        acq(&mut ops, 2, "acquire", "b", 3, 6, 8, Some(11)); // 6 > 5 while a holds
        let r = check(&ops);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.anomalies[0].kind, "semaphore-overfull");
        // A grant after a's release was sent is fine.
        let mut ops = Vec::new();
        acq(&mut ops, 1, "acquire", "a", 3, 0, 5, Some(10));
        release(&mut ops, 1, "a", 10, 6);
        acq(&mut ops, 2, "acquire", "b", 3, 6, 8, Some(11));
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn a_later_acquire_overtaking_a_shown_queue_is_caught() {
        let mut ops = Vec::new();
        acq(&mut ops, 1, "acquire", "a", 5, 0, 5, Some(10));
        acq(&mut ops, 4, "acquire-wait", "d", 3, 20, 205, Some(16));
        info(&mut ops, 30, 1);
        release(&mut ops, 1, "a", 10, 100);
        acq(&mut ops, 5, "acquire", "e", 1, 40, 45, Some(12)); // jumped d
        let r = check(&ops);
        let kinds: Vec<_> = r.anomalies.iter().map(|a| a.kind).collect();
        assert!(kinds.contains(&"semaphore-queue-jumped"), "{kinds:?}");
        // An INFO that cannot tell who waits (two could be, one shown) proves nothing.
        let mut ops = Vec::new();
        acq(&mut ops, 1, "acquire", "a", 5, 0, 5, Some(10));
        acq(&mut ops, 4, "acquire-wait", "d", 3, 20, 205, Some(16));
        acq(&mut ops, 6, "acquire-wait", "f", 1, 21, 35, Some(11));
        info(&mut ops, 30, 1);
        acq(&mut ops, 5, "acquire", "e", 1, 40, 45, None);
        assert!(check(&ops).anomalies.iter().all(|a| a.kind != "semaphore-queue-jumped"));
    }
}
