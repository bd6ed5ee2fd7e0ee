//! `extend`: LOCK EXTEND answers 1 only to the lock's current holder with its token.
//! From the outside that means, for every EXTEND answered 1 by (name, owner, token):
//! - the token was granted to that owner on that name (an acknowledged ACQUIRE or INFO
//!   shows it, or an ACQUIRE of that owner whose reply was lost may have been it, when
//!   no other owner is known to hold that token);
//! - no grant of a higher token on that name had completed before the EXTEND was sent
//!   (tokens only grow, so the lease of the lower one was over for good);
//! - no RELEASE of that lease had been acknowledged before the EXTEND was sent.
//!
//! How an acknowledged EXTEND moves the lease's end is the `lease` and `lock` checkers'
//! business (both treat it as restarting the lease from the EXTEND's invocation).

use std::collections::{BTreeMap, HashMap};

use super::{Anomaly, Report};
use crate::history::{pairs, Op, Type};

/// Checks every acknowledged EXTEND in `ops`.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    // (name, token) -> owner, from every reply that names a holder.
    let mut holder_of: HashMap<(&str, i64), &str> = HashMap::new();
    // name -> grants (token, completion) of any owner.
    let mut grants: BTreeMap<&str, Vec<(i64, u64)>> = BTreeMap::new();
    // (name, owner) -> invocations of ACQUIREs whose outcome is unknown.
    let mut lost: HashMap<(&str, &str), Vec<u64>> = HashMap::new();
    // (name, owner, token) -> completion of the earliest acknowledged release.
    let mut released: HashMap<(&str, &str, i64), u64> = HashMap::new();
    for p in &ps {
        let Some(name) = p.req.str("name") else { continue };
        let owner = p.req.str("owner").unwrap_or("");
        match (p.f, p.typ) {
            ("acquire" | "acquire-wait", Type::Ok) => {
                if let Some(t) = p.resp.int("token") {
                    holder_of.insert((name, t), owner);
                    grants.entry(name).or_default().push((t, p.ret));
                }
            }
            ("acquire" | "acquire-wait", Type::Info) => lost.entry((name, owner)).or_default().push(p.inv),
            ("info", Type::Ok) => {
                if let (Some(h), Some(t)) = (p.resp.str("holder"), p.resp.int("token")) {
                    holder_of.insert((name, t), h);
                }
            }
            ("release", Type::Ok) if p.resp.int("released") == Some(1) => {
                let t = p.req.int("token").unwrap_or(0);
                let r = released.entry((name, owner, t)).or_insert(u64::MAX);
                *r = (*r).min(p.ret);
            }
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    for p in ps
        .iter()
        .filter(|p| p.f == "extend" && p.typ == Type::Ok && p.resp.int("extended") == Some(1))
    {
        let name = p.req.str("name").unwrap_or("");
        let owner = p.req.str("owner").unwrap_or("");
        let t = p.req.int("token").unwrap_or(0);
        let known = holder_of.get(&(name, t));
        let may_hold = match known {
            Some(o) => *o == owner,
            None => lost
                .get(&(name, owner))
                .is_some_and(|v| v.iter().any(|&inv| inv < p.ret)),
        };
        if !may_hold {
            anomalies.push(Anomaly {
                kind: "extend-not-holder",
                at: p.ret,
                detail: format!(
                    "{name}: EXTEND by {owner} with token {t} answered 1, but that token {}",
                    match known {
                        Some(o) => format!("is {o}'s"),
                        None => format!("was never granted to {owner}"),
                    }
                ),
            });
            continue;
        }
        if let Some((t2, _)) = grants
            .get(name)
            .and_then(|g| g.iter().find(|(t2, ret)| *t2 > t && *ret < p.inv))
        {
            anomalies.push(Anomaly {
                kind: "extend-after-superseded",
                at: p.ret,
                detail: format!("{name}: EXTEND by {owner} of token {t} answered 1 after token {t2} had been granted"),
            });
        }
        if released.get(&(name, owner, t)).is_some_and(|&r| r < p.inv) {
            anomalies.push(Anomaly {
                kind: "extend-after-release",
                at: p.ret,
                detail: format!("{name}: EXTEND by {owner} of token {t} answered 1 after its release"),
            });
        }
    }
    Report::from("extend", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s};

    const MS: u64 = 1_000_000;
    fn grant(ops: &mut Vec<Op>, p: u64, owner: &str, inv: u64, token: u64) {
        let req = map(vec![("name", s("l")), ("owner", s(owner)), ("ttl", i(1000))]);
        let resp = req.with("token", i(token));
        push(ops, p, "acquire", inv * MS, (inv + 1) * MS, Type::Ok, req, resp);
    }
    fn extend(ops: &mut Vec<Op>, p: u64, owner: &str, inv: u64, token: u64, answer: u64) {
        let req = map(vec![
            ("name", s("l")),
            ("owner", s(owner)),
            ("token", i(token)),
            ("ttl", i(1000)),
        ]);
        let resp = req.with("extended", i(answer));
        push(ops, p, "extend", inv * MS, (inv + 1) * MS, Type::Ok, req, resp);
    }

    #[test]
    fn holder_renewals_and_refused_impostors_are_valid() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5);
        extend(&mut ops, 1, "a", 10, 5, 1);
        extend(&mut ops, 2, "a-impostor", 20, 5, 0);
        extend(&mut ops, 1, "a", 30, 6, 0);
        grant(&mut ops, 3, "b", 2000, 7);
        extend(&mut ops, 1, "a", 2100, 5, 0); // a paused past its lease: refused
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn extends_granted_to_non_holders_are_caught() {
        let kinds = |ops: &[Op]| check(ops).anomalies.iter().map(|a| a.kind).collect::<Vec<_>>();
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5);
        extend(&mut ops, 2, "a-impostor", 20, 5, 1);
        assert_eq!(kinds(&ops), ["extend-not-holder"]);
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5);
        extend(&mut ops, 1, "a", 20, 6, 1); // a token a was never given
        assert_eq!(kinds(&ops), ["extend-not-holder"]);
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5);
        grant(&mut ops, 2, "b", 2000, 7);
        extend(&mut ops, 1, "a", 2100, 5, 1);
        assert_eq!(kinds(&ops), ["extend-after-superseded"]);
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 5);
        let req = map(vec![("name", s("l")), ("owner", s("a")), ("token", i(5))]);
        push(
            &mut ops,
            1,
            "release",
            10 * MS,
            11 * MS,
            Type::Ok,
            req.clone(),
            req.with("released", i(1)),
        );
        extend(&mut ops, 1, "a", 20, 5, 1);
        assert_eq!(kinds(&ops), ["extend-after-release"]);
    }

    #[test]
    fn a_lost_acquire_may_have_granted_the_token() {
        let mut ops = Vec::new();
        let req = map(vec![("name", s("l")), ("owner", s("a")), ("ttl", i(1000))]);
        push(&mut ops, 1, "acquire", 0, 5 * MS, Type::Info, req.clone(), req);
        extend(&mut ops, 2, "a", 20, 9, 1);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }
}
