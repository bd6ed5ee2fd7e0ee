//! Leases as the outside can be sure of them: the span of real time in which a grant
//! certainly held, used by the checkers that count holders (`semaphore`, `redis-lock`).
//!
//! A grant (an acknowledged `acquire`/`acquire-wait` with a `:token`) certainly holds
//! from its completion until the earliest of:
//! - the invocation of any RELEASE of it that may have been applied (acknowledged or
//!   not), since the holder gave it up then at the earliest;
//! - the end of the lease, counted conservatively: the last renewal applied (the grant
//!   itself, a same-holder re-grant or an EXTEND answered 1, each restarting the lease
//!   with its own TTL from the moment it was applied) is one of those not certainly
//!   followed by another, or an EXTEND whose answer was lost; its lease ends no sooner
//!   than its invocation + TTL less the clock bound (`lease_floor_ns`). The least of
//!   those is sound.

use std::collections::BTreeMap;

use super::lease_floor_ns;
use crate::history::{Pair, Type};

/// One lease's certain span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub name: String,
    pub owner: String,
    pub token: i64,
    /// Permits it holds (`:count` of the grant, 1 when absent).
    pub count: u64,
    /// The name's limit as the grant asked it (`:limit`, 1 when absent).
    pub limit: u64,
    /// Completion of the first grant (ns).
    pub from: u64,
    /// Earliest moment it may have ended (ns); the span is empty when `until <= from`.
    pub until: u64,
}

type Key<'a> = (&'a str, &'a str, i64);

/// Every lease of `ps` with its certain span, in order of grant completion.
pub fn leases(ps: &[Pair]) -> Vec<Held> {
    let mut grants: BTreeMap<Key, Vec<&Pair>> = BTreeMap::new();
    let mut unsure: BTreeMap<Key, Vec<&Pair>> = BTreeMap::new();
    let mut released: BTreeMap<Key, u64> = BTreeMap::new();
    for p in ps {
        let Some(name) = p.req.str("name") else { continue };
        let owner = p.req.str("owner").unwrap_or("");
        match p.f {
            "acquire" | "acquire-wait" if p.typ == Type::Ok => {
                if let Some(t) = p.resp.int("token") {
                    grants.entry((name, owner, t)).or_default().push(p);
                }
            }
            "extend" => {
                let key = (name, owner, p.req.int("token").unwrap_or(0));
                match p.typ {
                    Type::Ok if p.resp.int("extended") == Some(1) => grants.entry(key).or_default().push(p),
                    Type::Info => unsure.entry(key).or_default().push(p),
                    _ => {}
                }
            }
            "release" if p.typ != Type::Fail => {
                let key = (name, owner, p.req.int("token").unwrap_or(0));
                let r = released.entry(key).or_insert(u64::MAX);
                *r = (*r).min(p.inv);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, gs) in &grants {
        // An EXTEND answered 1 with no grant seen (a lost ACQUIRE's) has no known start.
        let Some(first) = gs.iter().filter(|g| g.f != "extend").min_by_key(|g| g.ret) else {
            continue;
        };
        let ttl = |p: &Pair| p.req.int("ttl").unwrap_or(0) as u64;
        let certain_last = gs.iter().filter(|x| !gs.iter().any(|y| y.inv > x.ret));
        let lost = unsure.get(key).map(Vec::as_slice).unwrap_or_default().iter();
        let end = certain_last
            .chain(lost)
            .map(|x| lease_floor_ns(x.inv, ttl(x)))
            .min()
            .unwrap_or(0);
        let until = end.min(released.get(key).copied().unwrap_or(u64::MAX));
        out.push(Held {
            name: key.0.to_string(),
            owner: key.1.to_string(),
            token: key.2,
            count: first.req.int("count").unwrap_or(1).max(0) as u64,
            limit: first.req.int("limit").unwrap_or(1).max(0) as u64,
            from: first.ret,
            until,
        });
    }
    out.sort_by_key(|h| h.from);
    out
}

/// Per name, the first instant at which the certainly held permits exceed the limit:
/// (name, when, permits held then, limit, the owners holding then).
pub fn overfull(held: &[Held]) -> Vec<(String, u64, u64, u64, Vec<String>)> {
    let mut by_name: BTreeMap<&str, Vec<&Held>> = BTreeMap::new();
    for h in held.iter().filter(|h| h.from < h.until) {
        by_name.entry(&h.name).or_default().push(h);
    }
    let mut out = Vec::new();
    for (name, hs) in by_name {
        // Ends sort before starts at the same instant: a hand-over is not an overlap.
        let mut events: Vec<(u64, bool, &Held)> = Vec::new();
        for h in &hs {
            events.push((h.from, true, h));
            events.push((h.until, false, h));
        }
        events.sort_by_key(|(t, start, _)| (*t, *start));
        let mut live: Vec<&Held> = Vec::new();
        for (t, start, h) in events {
            if !start {
                live.retain(|x| !std::ptr::eq(*x, h));
                continue;
            }
            live.push(h);
            let used: u64 = live.iter().map(|x| x.count).sum();
            let limit = live.iter().map(|x| x.limit).max().unwrap_or(1);
            if used > limit {
                let owners = live
                    .iter()
                    .map(|x| format!("{}:{}x{}", x.owner, x.token, x.count))
                    .collect();
                out.push((name.to_string(), t, used, limit, owners));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::*;
    use crate::history::{i, map, pairs, s, Op};

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
    fn other(ops: &mut Vec<Op>, f: &'static str, inv: u64, typ: Type, extra: (&'static str, u64)) {
        let req = map(vec![
            ("name", s("l")),
            ("owner", s("a")),
            ("token", i(1)),
            ("ttl", i(1000)),
        ]);
        push(
            ops,
            1,
            f,
            inv * MS,
            (inv + 1) * MS,
            typ,
            req.clone(),
            req.with(extra.0, i(extra.1)),
        );
    }

    #[test]
    fn spans_end_at_release_or_lease_and_move_with_extend() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 10, 1);
        let h = leases(&pairs(&ops));
        assert_eq!((h[0].from, h[0].until), (10 * MS, lease_floor_ns(0, 1000)));
        other(&mut ops, "extend", 500, Type::Ok, ("extended", 1));
        assert_eq!(leases(&pairs(&ops))[0].until, lease_floor_ns(500 * MS, 1000));
        other(&mut ops, "release", 700, Type::Info, ("released", 0));
        assert_eq!(leases(&pairs(&ops))[0].until, 700 * MS);
    }

    #[test]
    fn overlapping_certain_spans_are_overfull() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 10, 1);
        grant(&mut ops, 2, "b", 995, 1000, 2); // a's lease may be over by then
        assert!(overfull(&leases(&pairs(&ops))).is_empty());
        grant(&mut ops, 3, "c", 500, 510, 3);
        let o = overfull(&leases(&pairs(&ops)));
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].2, o[0].3), (2, 1));
    }
}
