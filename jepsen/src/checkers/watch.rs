//! `watch`: LOCK WATCH sees every change and invents none (SPEC.md, "Watching a
//! holder"). Every answer is LOCK INFO's reply at some instant of the call (a
//! linearizable read); an answer equal to the token sent comes only after the timeout.
//! From the outside, for every WATCH answered `:ok` with [inv, ret], token sent `s`,
//! timeout `T` and answer `a` (a holder's token, or nil = 0):
//! - **when it was read**: within [inv, ret]; and if `a == s`, no sooner than the
//!   timeout, which the server's clock (1% slack, 2 ms) puts at `inv + T` at the
//!   earliest. So an answer equal to the token sent that came sooner is
//!   `watch-early-unchanged` (the watch returned without a change).
//! - **invented**: a token must have been granted on that name by an ACQUIRE invoked
//!   before the WATCH completed (or an ACQUIRE whose reply was lost may have been it),
//!   to the owner the answer names (`watch-invented`).
//! - **stale**: a token is certainly no longer the holder once a grant of a higher token
//!   on that name has completed, or a RELEASE of it was answered 1; an answer naming it
//!   when that happened before the read window began is `watch-stale`. For an answer
//!   equal to the token sent this is "a change was missed": the holder had certainly
//!   changed before the timeout, yet the watch said it had not.
//! - **nil while held**: nil only if the lock could have been free at some instant of the
//!   read window; a lease certainly held over all of it (`held.rs`'s certain span:
//!   grant completion to the earliest RELEASE sent or possible lease end) makes a nil
//!   answer `watch-nil-while-held`.
//! - **backwards**: one watcher's answers on one name never go back to a lower token
//!   than an earlier answer (its calls are sequential, so their reads are in order, and
//!   holders' tokens only grow); nil answers are not compared (`watch-went-back`).
//!
//! Lease expiry is never used to call a token stale: a lease may last longer in real
//! time than its TTL (the cluster clock stands still without a leader).

use std::collections::{BTreeMap, HashMap};

use super::held::{leases, Held};
use super::{lease_floor_ns, Anomaly, Report};
use crate::history::{pairs, Op, Pair, Type};

/// What the history says about one name's tokens.
#[derive(Default)]
struct Name<'a> {
    /// token -> (owner, earliest invocation of an acknowledged grant of it).
    granted: HashMap<i64, (&'a str, u64)>,
    /// Invocations of ACQUIREs whose reply was lost.
    lost: Vec<u64>,
    /// (token, completion) of every acknowledged grant, for "a higher one had completed".
    grants: Vec<(i64, u64)>,
    /// token -> completion of the earliest RELEASE of it answered 1.
    released: HashMap<i64, u64>,
    /// Certain spans of the leases.
    held: Vec<Held>,
}

impl Name<'_> {
    /// The moment `t` was certainly no longer the holder, if any.
    fn over_by(&self, t: i64) -> Option<u64> {
        let superseded = self.grants.iter().filter(|(t2, _)| *t2 > t).map(|(_, r)| *r).min();
        match (superseded, self.released.get(&t).copied()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Checks every WATCH in `ops` against the lock history around it.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    let mut names: BTreeMap<&str, Name> = BTreeMap::new();
    for p in &ps {
        let Some(name) = p.req.str("name") else { continue };
        let n = names.entry(name).or_default();
        match (p.f, p.typ) {
            ("acquire" | "acquire-wait", Type::Ok) => {
                if let Some(t) = p.resp.int("token") {
                    let owner = p.req.str("owner").unwrap_or("");
                    let e = n.granted.entry(t).or_insert((owner, p.inv));
                    e.1 = e.1.min(p.inv);
                    n.grants.push((t, p.ret));
                }
            }
            ("acquire" | "acquire-wait", Type::Info) => n.lost.push(p.inv),
            ("release", Type::Ok) if p.resp.int("released") == Some(1) => {
                let t = p.req.int("token").unwrap_or(0);
                let r = n.released.entry(t).or_insert(u64::MAX);
                *r = (*r).min(p.ret);
            }
            _ => {}
        }
    }
    for h in leases(&ps) {
        if let Some(n) = names.get_mut(h.name.as_str()) {
            n.held.push(h);
        }
    }
    let empty = Name::default();
    let mut anomalies = Vec::new();
    // (watcher, name) -> (highest token answered, the completion of that answer).
    let mut seen: HashMap<(i64, &str), (i64, u64)> = HashMap::new();
    let mut watches: Vec<&Pair> = ps.iter().filter(|p| p.f == "watch" && p.typ == Type::Ok).collect();
    watches.sort_by_key(|p| p.inv);
    for w in watches {
        let name = w.req.str("name").unwrap_or("");
        let n = names.get(name).unwrap_or(&empty);
        let sent = w.req.int("sent").unwrap_or(0);
        let timeout = w.req.int("timeout").unwrap_or(0).max(0) as u64;
        let answer = w.resp.int("token").unwrap_or(0);
        let holder = w.resp.str("holder");
        let mut flag = |kind: &'static str, detail: String| {
            anomalies.push(Anomaly {
                kind,
                at: w.ret,
                detail: format!("{name}: WATCH sent {sent} (timeout {timeout} ms) answered {answer}: {detail}"),
            })
        };
        // The earliest instant the answer can have been read.
        let timeout_floor = lease_floor_ns(w.inv, timeout);
        let from = if answer == sent {
            timeout_floor.max(w.inv)
        } else {
            w.inv
        };
        if answer == sent && w.ret < timeout_floor {
            flag(
                "watch-early-unchanged",
                format!("unchanged, yet answered after {} ms", (w.ret - w.inv) / 1_000_000),
            );
        }
        if answer != 0 {
            match n.granted.get(&answer) {
                Some(&(owner, inv)) if inv < w.ret => {
                    if holder.is_some_and(|h| h != owner) {
                        flag(
                            "watch-invented",
                            format!("names {holder:?}, but that token is {owner}'s"),
                        );
                    }
                }
                _ if n.lost.iter().any(|&inv| inv < w.ret) => {}
                _ => flag(
                    "watch-invented",
                    "no ACQUIRE sent before the WATCH returned was granted that token".into(),
                ),
            }
            if let Some(over) = n.over_by(answer) {
                if over < from {
                    flag(
                        "watch-stale",
                        format!(
                            "that holder was certainly gone {} ms before the answer could have been read",
                            (from - over) / 1_000_000
                        ),
                    );
                }
            }
        } else if let Some(h) = n.held.iter().find(|h| h.from <= from && h.until > w.ret) {
            flag(
                "watch-nil-while-held",
                format!("{} held token {} throughout the read window", h.owner, h.token),
            );
        }
        if answer != 0 {
            let watcher = w.req.int("watcher").unwrap_or(-1);
            let e = seen.entry((watcher, name)).or_insert((0, 0));
            if answer < e.0 && e.1 < w.inv {
                let before = e.0;
                anomalies.push(Anomaly {
                    kind: "watch-went-back",
                    at: w.ret,
                    detail: format!(
                        "{name}: watcher w{watcher} was answered {answer} after an earlier answer {before}"
                    ),
                });
            } else if answer > e.0 {
                *e = (answer, w.ret);
            }
        }
    }
    Report::from("watch", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s, V};

    const MS: u64 = 1_000_000;
    fn grant(ops: &mut Vec<Op>, p: u64, owner: &str, inv: u64, token: u64) {
        let req = map(vec![("name", s("l")), ("owner", s(owner)), ("ttl", i(1000))]);
        push(
            ops,
            p,
            "acquire",
            inv * MS,
            (inv + 5) * MS,
            Type::Ok,
            req.clone(),
            req.with("token", i(token)),
        );
    }
    fn release(ops: &mut Vec<Op>, p: u64, owner: &str, inv: u64, token: u64) {
        let req = map(vec![("name", s("l")), ("owner", s(owner)), ("token", i(token))]);
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
    /// A WATCH by watcher 9 sending `sent`, answered `answer` (owner, token) or nil.
    fn watch(ops: &mut Vec<Op>, inv: u64, ret: u64, sent: u64, timeout: u64, answer: Option<(&str, u64)>) {
        let req = map(vec![
            ("name", s("l")),
            ("sent", i(sent)),
            ("timeout", i(timeout)),
            ("node", i(1)),
            ("watcher", i(9)),
        ]);
        let resp = match answer {
            Some((o, t)) => req.with("holder", s(o)).with("token", i(t)),
            None => req.with("holder", V::Nil).with("token", V::Nil),
        };
        push(ops, 9, "watch", inv * MS, ret * MS, Type::Ok, req, resp);
    }
    fn kinds(ops: &[Op]) -> Vec<&'static str> {
        check(ops).anomalies.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn a_watcher_following_the_holders_is_valid() {
        let mut ops = Vec::new();
        watch(&mut ops, 0, 12, 0, 2000, Some(("a", 1))); // woken by a's grant
        grant(&mut ops, 1, "a", 2, 1);
        release(&mut ops, 1, "a", 100, 1);
        watch(&mut ops, 13, 101, 1, 2000, None); // woken by the release
        watch(&mut ops, 102, 2103, 0, 2000, None); // timed out, still free
        grant(&mut ops, 2, "b", 2200, 2);
        watch(&mut ops, 2104, 2203, 0, 2000, Some(("b", 2)));
        // Timed out with the same holder, b's lease (1 s) still possibly running.
        watch(&mut ops, 2204, 2705, 2, 500, Some(("b", 2)));
        // A lost ACQUIRE may have granted a token nobody saw acknowledged.
        let req = map(vec![("name", s("l")), ("owner", s("c")), ("ttl", i(1000))]);
        push(
            &mut ops,
            3,
            "acquire",
            2800 * MS,
            3000 * MS,
            Type::Info,
            req.clone(),
            req,
        );
        watch(&mut ops, 4000, 4001, 2, 500, Some(("c", 3)));
        assert_eq!(check(&ops).valid, Validity::Valid, "{:?}", check(&ops).anomalies);
    }

    #[test]
    fn stale_invented_and_early_answers_are_caught() {
        // An old holder after a newer grant had completed (a lagging node's state).
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        grant(&mut ops, 2, "b", 1100, 2);
        watch(&mut ops, 1200, 1201, 2, 2000, Some(("a", 1)));
        assert_eq!(kinds(&ops), ["watch-stale"]);
        // A token nobody was granted, or another owner's.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        watch(&mut ops, 5, 6, 0, 2000, Some(("b", 1)));
        watch(&mut ops, 10, 11, 1, 2000, Some(("a", 7)));
        assert_eq!(kinds(&ops), ["watch-invented", "watch-invented"]);
        // Answered unchanged long before the timeout.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        watch(&mut ops, 10, 300, 1, 2000, Some(("a", 1)));
        assert_eq!(kinds(&ops), ["watch-early-unchanged"]);
        // Timed out unchanged although the holder had been released before the timeout:
        // a change missed.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        watch(&mut ops, 10, 520, 1, 500, Some(("a", 1)));
        watch(&mut ops, 530, 1040, 1, 500, Some(("a", 1)));
        release(&mut ops, 1, "a", 1100, 1);
        assert_eq!(check(&ops).valid, Validity::Valid);
        watch(&mut ops, 1050, 1560, 1, 500, Some(("a", 1)));
        assert_eq!(kinds(&ops), ["watch-stale"]);
    }

    #[test]
    fn nil_while_certainly_held_and_going_back_are_caught() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        watch(&mut ops, 100, 110, 1, 2000, None);
        assert_eq!(kinds(&ops), ["watch-nil-while-held"]);
        // The same nil once the lease may have run out is fine.
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        watch(&mut ops, 100, 1100, 1, 2000, None);
        assert_eq!(check(&ops).valid, Validity::Valid);
        // Backwards for one watcher: 2, then 1 (1 is not provably stale on its own: b's
        // grant completed only after that WATCH was sent).
        let mut ops = Vec::new();
        grant(&mut ops, 1, "a", 0, 1);
        watch(&mut ops, 6, 8, 0, 2000, Some(("a", 1)));
        grant(&mut ops, 2, "b", 10, 2);
        watch(&mut ops, 9, 11, 1, 2000, Some(("b", 2)));
        watch(&mut ops, 12, 13, 2, 2000, Some(("a", 1)));
        assert_eq!(kinds(&ops), ["watch-went-back"]);
    }
}
