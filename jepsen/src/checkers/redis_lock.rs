//! `redis-lock`: locks taken the Redis way (SET NX PX, Lua compare-and-delete) carry no
//! fencing token, so what can be checked is mutual exclusion within lease bounds: no two
//! leases certainly held at once (spans from `held.rs`), and no release or extend of a
//! value answered 1 after another value had been set in its place (a SET NX that
//! succeeded after this one's completed means this key was gone for good).

use std::collections::BTreeMap;

use super::held::{leases, overfull};
use super::{Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

/// Checks every Redis-way lock in `ops`.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut anomalies = Vec::new();
    for (name, at, _, _, owners) in overfull(&leases(&ps)) {
        anomalies.push(Anomaly {
            kind: "two-holders",
            at,
            detail: format!("{name}: held at once by {owners:?}"),
        });
    }
    let mut sets: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in ps.iter().filter(|p| p.f == "acquire" && p.typ == Type::Ok) {
        if let (Some(n), Some(_)) = (p.req.str("name"), p.resp.int("token")) {
            sets.entry(n).or_default().push(p);
        }
    }
    for p in &ps {
        let key = match p.f {
            "release" => "released",
            "extend" => "extended",
            _ => continue,
        };
        if p.typ != Type::Ok || p.resp.int(key) != Some(1) {
            continue;
        }
        let name = p.req.str("name").unwrap_or("");
        let t = p.req.int("token");
        let Some(mine) = sets.get(name).and_then(|v| v.iter().find(|g| g.resp.int("token") == t)) else {
            continue;
        };
        let later = sets.get(name).and_then(|v| {
            v.iter()
                .find(|g| g.resp.int("token") != t && g.inv > mine.ret && g.ret < p.inv)
        });
        if let Some(g) = later {
            anomalies.push(Anomaly {
                kind: "stale-script-applied",
                at: p.ret,
                detail: format!(
                    "{name}: {} of value {} answered 1 after value {} had been set",
                    p.f,
                    t.unwrap_or(0),
                    g.resp.int("token").unwrap_or(0)
                ),
            });
        }
    }
    Report::from("redis-lock", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s, V};

    const MS: u64 = 1_000_000;
    fn set(ops: &mut Vec<Op>, p: u64, owner: &str, inv: u64, value: Option<u64>) {
        let req = map(vec![("name", s("l")), ("owner", s(owner)), ("ttl", i(1000))]);
        let resp = req.with("token", value.map(i).unwrap_or(V::Nil));
        push(ops, p, "acquire", inv * MS, (inv + 2) * MS, Type::Ok, req, resp);
    }
    fn script(ops: &mut Vec<Op>, p: u64, f: &'static str, owner: &str, inv: u64, value: u64, answer: u64) {
        let req = map(vec![
            ("name", s("l")),
            ("owner", s(owner)),
            ("token", i(value)),
            ("ttl", i(1000)),
        ]);
        let key = if f == "release" { "released" } else { "extended" };
        push(
            ops,
            p,
            f,
            inv * MS,
            (inv + 2) * MS,
            Type::Ok,
            req.clone(),
            req.with(key, i(answer)),
        );
    }

    #[test]
    fn one_holder_at_a_time_is_valid() {
        let mut ops = Vec::new();
        set(&mut ops, 1, "a", 0, Some(11));
        set(&mut ops, 2, "b", 10, None);
        script(&mut ops, 1, "extend", "a", 500, 11, 1);
        script(&mut ops, 1, "release", "a", 800, 11, 1);
        set(&mut ops, 2, "b", 810, Some(22));
        set(&mut ops, 3, "c", 3000, Some(33)); // b's lease ran out
        script(&mut ops, 2, "release", "b", 3100, 22, 0);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn two_holders_and_stale_scripts_are_caught() {
        let mut ops = Vec::new();
        set(&mut ops, 1, "a", 0, Some(11));
        set(&mut ops, 2, "b", 10, Some(22));
        assert_eq!(check(&ops).anomalies[0].kind, "two-holders");
        let mut ops = Vec::new();
        set(&mut ops, 1, "a", 0, Some(11));
        set(&mut ops, 2, "b", 2000, Some(22));
        script(&mut ops, 1, "release", "a", 2100, 11, 1);
        assert_eq!(check(&ops).anomalies[0].kind, "stale-script-applied");
    }
}
