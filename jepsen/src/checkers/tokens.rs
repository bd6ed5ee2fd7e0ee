//! `tokens`: every grant's fencing token (LOCK grants and IDEMP "started" claims) is
//! unique, except a same-owner re-acquire of the same lock, and a grant invoked after
//! another grant completed carries a larger token, across all names.

use std::collections::HashMap;

use super::{Anomaly, Report};
use crate::history::{pairs, Op, Type};

/// One observed grant.
#[derive(Debug, Clone)]
struct Grant {
    name: String,
    owner: String,
    token: u64,
    /// Earliest time the token may have been issued: the invocation, or that of an
    /// earlier ACQUIRE of the same owner and name whose reply was lost.
    inv: u64,
    ret: u64,
}

/// Checks the grants in `ops` (any op with an ok `:token` reply counts; IDEMP claims
/// have a `:started` token).
pub fn check(ops: &[Op]) -> Report {
    let mut grants: Vec<Grant> = Vec::new();
    // Per (name, owner): invocation of the earliest ACQUIRE whose reply was lost since the
    // owner was last known not to hold the lock. A later grant to that owner may be a
    // re-acquire of a grant made then, so its token may have been issued that early.
    let mut unsure_since: HashMap<(String, String), u64> = HashMap::new();
    for p in pairs(ops) {
        let name = p.req.str("name").or(p.req.str("key")).unwrap_or("").to_string();
        let owner = p.req.str("owner").unwrap_or("").to_string();
        let key = (name.clone(), owner.clone());
        if p.f == "acquire" || p.f == "acquire-wait" {
            match (p.typ, p.resp.get("token")) {
                (Type::Info, _) => {
                    unsure_since.entry(key.clone()).or_insert(p.inv);
                }
                (Type::Ok, Some(crate::history::V::Nil)) => {
                    unsure_since.remove(&key);
                }
                _ => {}
            }
        }
        if p.f == "release" && p.typ == Type::Ok && p.resp.int("released") == Some(1) {
            unsure_since.remove(&key);
        }
        if p.typ != Type::Ok {
            continue;
        }
        let token = match p.f {
            "acquire" | "acquire-wait" => p.resp.int("token"),
            "begin" => p.resp.int("started"),
            _ => None,
        };
        let Some(token) = token else { continue };
        let issued_after = unsure_since.get(&key).copied().unwrap_or(p.inv).min(p.inv);
        grants.push(Grant {
            name,
            // An IDEMP claim has no owner to re-acquire with: each is its own.
            owner: if p.f == "begin" {
                format!("claim@{}", p.index)
            } else {
                owner
            },
            token: token as u64,
            inv: issued_after,
            ret: p.ret,
        });
    }
    let mut anomalies = Vec::new();

    // Uniqueness: one token, one (name, owner).
    let mut by_token: HashMap<u64, &Grant> = HashMap::new();
    for g in &grants {
        match by_token.get(&g.token) {
            Some(first) if first.name != g.name || first.owner != g.owner => anomalies.push(Anomaly {
                kind: "duplicate-token",
                at: g.ret.max(first.ret),
                detail: format!(
                    "token {} granted to {}/{} and to {}/{}",
                    g.token, first.name, first.owner, g.name, g.owner
                ),
            }),
            Some(_) => {}
            None => {
                by_token.insert(g.token, g);
            }
        }
    }

    // Real-time order, judged for the earliest-invoked grant of each token (a later one
    // with the same token is a re-acquire and may legitimately carry an old token).
    let mut earliest: HashMap<u64, &Grant> = HashMap::new();
    for g in &grants {
        let e = earliest.entry(g.token).or_insert(g);
        if g.inv < e.inv {
            *e = g;
        }
    }
    let mut by_ret: Vec<&Grant> = grants.iter().collect();
    by_ret.sort_by_key(|g| g.ret);
    // prefix[k] = the grant with the largest token among by_ret[..=k].
    let mut prefix: Vec<&Grant> = Vec::with_capacity(by_ret.len());
    for g in &by_ret {
        let best = match prefix.last() {
            Some(b) if b.token >= g.token => *b,
            _ => *g,
        };
        prefix.push(best);
    }
    let mut checked: Vec<&&Grant> = earliest.values().collect();
    checked.sort_by_key(|g| g.inv);
    for g in checked {
        let before = by_ret.partition_point(|x| x.ret < g.inv);
        if before == 0 {
            continue;
        }
        let top = prefix[before - 1];
        if top.token >= g.token {
            anomalies.push(Anomaly {
                kind: "token-not-increasing",
                at: g.ret,
                detail: format!(
                    "{}/{} got token {} after {}/{} had completed with token {}",
                    g.name, g.owner, g.token, top.name, top.owner, top.token
                ),
            });
        }
    }
    Report::from("tokens", anomalies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{i, map, s, Proc, V};

    fn grant(ops: &mut Vec<Op>, p: u64, name: &str, owner: &str, inv: u64, ret: u64, token: u64) {
        let req = map(vec![("name", s(name)), ("owner", s(owner))]);
        for (t, typ, v) in [
            (inv, Type::Invoke, req.clone()),
            (ret, Type::Ok, req.with("token", i(token))),
        ] {
            ops.push(Op {
                index: ops.len(),
                time: t,
                typ,
                process: Proc::Client(p),
                f: "acquire",
                value: v,
            });
        }
    }

    #[test]
    fn increasing_unique_tokens_and_reacquire_are_valid() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", "x", 0, 10, 5);
        grant(&mut ops, 2, "b", "y", 11, 20, 7);
        grant(&mut ops, 1, "a", "x", 21, 30, 5); // re-acquire
        assert!(check(&ops).anomalies.is_empty());
    }

    #[test]
    fn reacquire_after_a_lost_grant_may_carry_an_old_token() {
        let mut ops = Vec::new();
        let req = map(vec![("name", s("a")), ("owner", s("x"))]);
        for (t, typ) in [(0, Type::Invoke), (5, Type::Info)] {
            ops.push(Op {
                index: ops.len(),
                time: t,
                typ,
                process: Proc::Client(1),
                f: "acquire",
                value: req.clone(),
            });
        }
        grant(&mut ops, 2, "b", "y", 11, 20, 9);
        grant(&mut ops, 3, "a", "x", 30, 40, 5); // re-acquire of the lost grant's token 5
        assert!(check(&ops).anomalies.is_empty(), "{:?}", check(&ops).anomalies);
        grant(&mut ops, 4, "c", "z", 50, 60, 7); // fresh grant below 9: caught
        assert!(!check(&ops).anomalies.is_empty());
    }

    #[test]
    fn duplicate_and_backwards_tokens_are_caught() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", "x", 0, 10, 5);
        grant(&mut ops, 2, "b", "y", 11, 20, 5);
        let r = check(&ops);
        assert!(r.anomalies.iter().any(|a| a.kind == "duplicate-token"));
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", "x", 0, 10, 9);
        grant(&mut ops, 2, "b", "y", 11, 20, 3);
        let r = check(&ops);
        assert!(r.anomalies.iter().any(|a| a.kind == "token-not-increasing"));
        assert_eq!(r.valid, super::super::Validity::Invalid);
        let _ = V::Nil;
    }
}
