//! `lock`: ACQUIRE / RELEASE / INFO / EXTEND checked for linearizability against an owner-aware
//! fenced mutex with leases, one search per lock name (P-compositionality).
//!
//! The model lets a lease end only once it certainly could have: not before the
//! grant's invocation plus its TTL (less the 1% clock margin of SPEC.md), judged at the
//! latest moment the later op could have taken effect. Tokens must grow per name; the
//! cross-name order of tokens is the `tokens` checker's business.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::linear::{self, Budget, LinOp, Model, Outcome};
use super::{lease_floor_ns, Anomaly, Report, Validity};
use crate::history::{pairs, Op, Pair, Type, V};

/// The lock's holder as the model knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    owner: u32,
    /// `None` while granted by an op whose reply was lost: any token above `floor` fits.
    token: Option<u64>,
    /// Invocation time of the grant or the latest re-acquire (the lease's earliest start).
    since: u64,
    ttl_ms: u64,
}

/// One lock name's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LockModel {
    holder: Option<Holder>,
    /// Highest token known to have been granted on this name.
    floor: u64,
}

/// An op on one lock name, with its result (`None` when unknown).
#[derive(Debug, Clone)]
pub enum LockOp {
    Acquire {
        owner: u32,
        ttl_ms: u64,
        result: Option<Option<u64>>,
    },
    Release {
        owner: u32,
        token: u64,
        result: Option<bool>,
    },
    Info {
        result: Option<(u32, u64)>,
    },
    /// EXTEND: succeeds exactly for the holder with its token, restarting the lease.
    Extend {
        owner: u32,
        token: u64,
        ttl_ms: u64,
        result: Option<bool>,
    },
}

impl LockModel {
    /// Whether the holder's token can be `t` (binding an unknown token).
    fn token_fits(&self, h: &Holder, t: u64) -> bool {
        match h.token {
            Some(k) => k == t,
            None => t > self.floor_at_grant(),
        }
    }
    fn floor_at_grant(&self) -> u64 {
        self.floor
    }
}

impl Model for LockModel {
    type Op = LockOp;

    fn step(&self, op: &LinOp<LockOp>) -> Vec<LockModel> {
        // The states to apply `op` to: as is, and with the lease over if it may be.
        let mut bases = vec![self.clone()];
        if let Some(h) = &self.holder {
            if op.ret >= lease_floor_ns(h.since, h.ttl_ms) {
                bases.push(LockModel {
                    holder: None,
                    floor: self.floor,
                });
            }
        }
        let mut out = Vec::new();
        for b in bases {
            match (&op.op, &b.holder) {
                (LockOp::Acquire { owner, ttl_ms, result }, None) => match result {
                    Some(Some(t)) if *t > b.floor => out.push(LockModel {
                        holder: Some(Holder {
                            owner: *owner,
                            token: Some(*t),
                            since: op.inv,
                            ttl_ms: *ttl_ms,
                        }),
                        floor: *t,
                    }),
                    None => out.push(LockModel {
                        holder: Some(Holder {
                            owner: *owner,
                            token: None,
                            since: op.inv,
                            ttl_ms: *ttl_ms,
                        }),
                        floor: b.floor,
                    }),
                    _ => {}
                },
                (LockOp::Acquire { owner, ttl_ms, result }, Some(h)) if h.owner == *owner => {
                    let token = match result {
                        Some(Some(t)) if b.token_fits(h, *t) => Some(Some(*t)),
                        None => Some(h.token),
                        _ => None,
                    };
                    if let Some(token) = token {
                        out.push(LockModel {
                            holder: Some(Holder {
                                owner: *owner,
                                token,
                                since: op.inv,
                                ttl_ms: *ttl_ms,
                            }),
                            floor: b.floor.max(token.unwrap_or(0)),
                        });
                    }
                }
                (LockOp::Acquire { result, .. }, Some(_)) => {
                    if matches!(result, Some(None) | None) {
                        out.push(b.clone());
                    }
                }
                (LockOp::Release { owner, token, result }, Some(h)) if h.owner == *owner && b.token_fits(h, *token) => {
                    if matches!(result, Some(true) | None) {
                        out.push(LockModel {
                            holder: None,
                            floor: b.floor.max(*token),
                        });
                    }
                }
                (LockOp::Release { result, .. }, _) => {
                    if matches!(result, Some(false) | None) {
                        out.push(b.clone());
                    }
                }
                (
                    LockOp::Extend {
                        owner,
                        token,
                        ttl_ms,
                        result,
                    },
                    Some(h),
                ) if h.owner == *owner && b.token_fits(h, *token) => {
                    if matches!(result, Some(true) | None) {
                        out.push(LockModel {
                            holder: Some(Holder {
                                owner: *owner,
                                token: Some(*token),
                                since: op.inv,
                                ttl_ms: *ttl_ms,
                            }),
                            floor: b.floor.max(*token),
                        });
                    }
                }
                (LockOp::Extend { result, .. }, _) => {
                    if matches!(result, Some(false) | None) {
                        out.push(b.clone());
                    }
                }
                (LockOp::Info { result: None }, None) => out.push(b.clone()),
                (LockOp::Info { result: Some((o, t)) }, Some(h)) if h.owner == *o && b.token_fits(h, *t) => {
                    out.push(LockModel {
                        holder: Some(Holder {
                            token: Some(*t),
                            ..h.clone()
                        }),
                        floor: b.floor.max(*t),
                    });
                }
                (LockOp::Info { .. }, _) => {}
            }
        }
        out
    }
}

/// Turns the lock workload's pairs for one name into search ops; unknown reads are
/// dropped (they change nothing) and failed ops never happened.
fn to_lin(ps: &[&Pair], owners: &mut HashMap<String, u32>) -> Vec<LinOp<LockOp>> {
    let mut id = |o: &str| {
        let n = owners.len() as u32;
        *owners.entry(o.to_string()).or_insert(n)
    };
    let mut out = Vec::new();
    for p in ps {
        let known = p.typ == Type::Ok;
        if p.typ == Type::Fail {
            continue;
        }
        let op = match p.f {
            "acquire" => LockOp::Acquire {
                owner: id(p.req.str("owner").unwrap_or("")),
                ttl_ms: p.req.int("ttl").unwrap_or(0) as u64,
                result: known.then(|| p.resp.int("token").map(|t| t as u64)),
            },
            "release" => LockOp::Release {
                owner: id(p.req.str("owner").unwrap_or("")),
                token: p.req.int("token").unwrap_or(0) as u64,
                result: known.then(|| p.resp.int("released") == Some(1)),
            },
            "extend" => LockOp::Extend {
                owner: id(p.req.str("owner").unwrap_or("")),
                token: p.req.int("token").unwrap_or(0) as u64,
                ttl_ms: p.req.int("ttl").unwrap_or(0) as u64,
                result: known.then(|| p.resp.int("extended") == Some(1)),
            },
            "info" => {
                if !known {
                    continue;
                }
                let result = match (p.resp.str("holder"), p.resp.int("token")) {
                    (Some(o), Some(t)) => Some((id(o), t as u64)),
                    _ => None,
                };
                LockOp::Info { result }
            }
            _ => continue,
        };
        out.push(LinOp {
            inv: p.inv,
            ret: p.ret,
            op,
        });
    }
    out
}

/// Checks every lock name's sub-history within `budget` in total.
pub fn check(ops: &[Op], budget: Duration) -> Report {
    let ps = pairs(ops);
    let mut by_name: BTreeMap<String, Vec<&Pair>> = BTreeMap::new();
    for p in &ps {
        if let Some(name) = p.req.str("name") {
            by_name.entry(name.to_string()).or_default().push(p);
        }
    }
    let deadline = Instant::now() + budget;
    let mut anomalies = Vec::new();
    let mut unknown = Vec::new();
    let mut owners = HashMap::new();
    for (name, sub) in by_name {
        let lin = to_lin(&sub, &mut owners);
        let b = Budget {
            deadline,
            max_configs: 2_000_000,
        };
        match linear::check(&LockModel::default(), &lin, b) {
            Outcome::Linearizable => {}
            Outcome::NotLinearizable { at } => anomalies.push(Anomaly {
                kind: "not-linearizable",
                at,
                detail: format!(
                    "lock {name}: no linearization of its {} ops fits the fenced-mutex model",
                    lin.len()
                ),
            }),
            Outcome::Unknown => unknown.push(name),
        }
    }
    let mut r = Report::from("lock-linearizable", anomalies);
    if r.valid == Validity::Valid && !unknown.is_empty() {
        r.valid = Validity::Unknown;
        r.note = format!("search budget ran out for {}", unknown.join(","));
    }
    r
}

/// Builds the value maps the lock workload records (shared with tests).
pub fn acquire_req(name: &str, owner: &str, ttl: u64) -> V {
    crate::history::map(vec![
        ("name", crate::history::s(name)),
        ("owner", crate::history::s(owner)),
        ("ttl", crate::history::i(ttl)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{i, map, s, Proc, Recorder};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Builds histories with explicit times (ms) for tests.
    struct H {
        ops: Vec<Op>,
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    impl H {
        fn new() -> H {
            H { ops: Vec::new() }
        }
        #[allow(clippy::too_many_arguments)] // one op's every field, for hand-built histories
        fn op(&mut self, p: u64, f: &'static str, inv_ms: u64, ret_ms: Option<u64>, req: V, resp: V, typ: Type) {
            let _ = NEXT.fetch_add(1, Ordering::Relaxed);
            let n = self.ops.len();
            self.ops.push(Op {
                index: n,
                time: inv_ms * 1_000_000,
                typ: Type::Invoke,
                process: Proc::Client(p),
                f,
                value: req,
            });
            let t = ret_ms.map(|r| r * 1_000_000).unwrap_or(inv_ms * 1_000_000 + 1);
            self.ops.push(Op {
                index: n + 1,
                time: t,
                typ,
                process: Proc::Client(p),
                f,
                value: resp,
            });
            self.ops.sort_by_key(|o| o.time);
        }
        fn acquire(&mut self, p: u64, owner: &str, inv: u64, ret: u64, token: Option<u64>) {
            let req = acquire_req("l", owner, 1000);
            let resp = req.with("token", token.map(i).unwrap_or(V::Nil));
            self.op(p, "acquire", inv, Some(ret), req, resp, Type::Ok);
        }
        fn release(&mut self, p: u64, owner: &str, token: u64, inv: u64, ret: u64, ok: bool) {
            let req = map(vec![("name", s("l")), ("owner", s(owner)), ("token", i(token))]);
            let resp = req.with("released", i(ok as u64));
            self.op(p, "release", inv, Some(ret), req, resp, Type::Ok);
        }
    }

    fn verdict(h: &H) -> Validity {
        check(&h.ops, Duration::from_secs(5)).valid
    }

    #[test]
    fn good_history_is_valid() {
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        h.acquire(2, "b", 6, 8, None);
        h.release(1, "a", 10, 9, 12, true);
        h.acquire(2, "b", 13, 15, Some(11));
        h.acquire(2, "b", 16, 17, Some(11));
        assert_eq!(verdict(&h), Validity::Valid);
    }

    #[test]
    fn two_holders_at_once_is_invalid() {
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        h.acquire(2, "b", 6, 8, Some(11));
        assert_eq!(verdict(&h), Validity::Invalid);
    }

    #[test]
    fn grant_after_lease_may_end_is_valid_but_not_before() {
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        h.acquire(2, "b", 1200, 1210, Some(11));
        assert_eq!(verdict(&h), Validity::Valid);
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        h.acquire(2, "b", 500, 510, Some(11));
        assert_eq!(verdict(&h), Validity::Invalid);
    }

    fn extend(h: &mut H, p: u64, owner: &str, token: u64, inv: u64, ret: u64, ok: bool) {
        let req = map(vec![
            ("name", s("l")),
            ("owner", s(owner)),
            ("token", i(token)),
            ("ttl", i(1000)),
        ]);
        let resp = req.with("extended", i(ok as u64));
        h.op(p, "extend", inv, Some(ret), req, resp, Type::Ok);
    }

    #[test]
    fn extend_moves_the_lease_and_only_the_holder_may_extend() {
        // a renews at 800: b's grant at 1200 comes before the renewed lease could end.
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        extend(&mut h, 1, "a", 10, 800, 805, true);
        h.acquire(2, "b", 1200, 1210, Some(11));
        assert_eq!(verdict(&h), Validity::Invalid);
        // Without the renewal (refused: wrong token) the same grant is fine.
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        extend(&mut h, 1, "a", 99, 800, 805, false);
        h.acquire(2, "b", 1200, 1210, Some(11));
        assert_eq!(verdict(&h), Validity::Valid);
        // Another owner's EXTEND answered 1 fits no linearization.
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        extend(&mut h, 2, "b", 10, 100, 105, true);
        assert_eq!(verdict(&h), Validity::Invalid);
    }

    #[test]
    fn token_going_backwards_on_a_name_is_invalid() {
        let mut h = H::new();
        h.acquire(1, "a", 0, 5, Some(10));
        h.release(1, "a", 10, 6, 7, true);
        h.acquire(2, "b", 8, 9, Some(9));
        assert_eq!(verdict(&h), Validity::Invalid);
    }

    #[test]
    fn lost_reply_may_or_may_not_have_granted() {
        let mut h = H::new();
        let req = acquire_req("l", "a", 1000);
        h.op(1, "acquire", 0, None, req.clone(), req, Type::Info);
        h.acquire(2, "b", 10, 20, None);
        h.acquire(3, "a", 30, 40, Some(5));
        assert_eq!(verdict(&h), Validity::Valid);
    }

    #[test]
    fn differential_lock_model_against_brute_force() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..1500 {
            let n = rng.random_range(1..=6);
            let ops: Vec<LinOp<LockOp>> = (0..n)
                .map(|_| {
                    let inv = rng.random_range(0..30u64) * 1_000_000;
                    let ret = if rng.random_bool(0.15) {
                        u64::MAX
                    } else {
                        inv + rng.random_range(1..10u64) * 1_000_000
                    };
                    let owner = rng.random_range(0..2u32);
                    let known = ret != u64::MAX;
                    let op = match rng.random_range(0..4) {
                        3 => LockOp::Extend {
                            owner,
                            token: rng.random_range(1..4u64),
                            ttl_ms: 20,
                            result: known.then(|| rng.random_bool(0.5)),
                        },
                        0 => LockOp::Acquire {
                            owner,
                            ttl_ms: 20,
                            result: known.then(|| rng.random_bool(0.7).then(|| rng.random_range(1..4u64))),
                        },
                        1 => LockOp::Release {
                            owner,
                            token: rng.random_range(1..4u64),
                            result: known.then(|| rng.random_bool(0.5)),
                        },
                        _ => LockOp::Info {
                            result: rng.random_bool(0.5).then(|| (owner, rng.random_range(1..4u64))),
                        },
                    };
                    let ret = if matches!(op, LockOp::Info { .. }) && ret == u64::MAX {
                        inv + 1
                    } else {
                        ret
                    };
                    LinOp { inv, ret, op }
                })
                .collect();
            let b = Budget {
                deadline: Instant::now() + Duration::from_secs(5),
                max_configs: 1_000_000,
            };
            let a = linear::check(&LockModel::default(), &ops, b) == Outcome::Linearizable;
            let bf = linear::brute_force(&LockModel::default(), &ops);
            assert_eq!(a, bf, "search and brute force disagree on {ops:?}");
            if bf {
                yes += 1
            } else {
                no += 1
            }
        }
        assert!(yes > 50 && no > 50, "{yes} {no}");
        let _ = Recorder::new();
    }
}
