//! Linearizability search: Wing & Gong's algorithm with Lowe's memoisation of
//! (linearized set, model state) configurations already explored. Ops with unknown
//! outcomes (`:info`) may take effect at any point after their invocation, or never.
//! A time and state budget turns an intractable search into "unknown", never a guess.
//!
//! `brute_force` is an independent, exponential checker used only to differential-test
//! the search on small histories.

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Instant;

/// A sequential specification: what an op may do from a state.
pub trait Model: Clone + Eq + Hash {
    type Op;
    /// The states the model may be in after `op` (with its observed result) is applied
    /// at some point inside `[inv, ret]`; empty when the result is impossible.
    fn step(&self, op: &LinOp<Self::Op>) -> Vec<Self>;
}

/// An op for the search.
#[derive(Debug, Clone)]
pub struct LinOp<O> {
    pub inv: u64,
    /// `u64::MAX` when the outcome is unknown: such an op is optional.
    pub ret: u64,
    pub op: O,
}

impl<O> LinOp<O> {
    fn known(&self) -> bool {
        self.ret != u64::MAX
    }
}

/// The search's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Linearizable,
    /// No order fits; `at` is the completion time of an op no explored order could place.
    NotLinearizable {
        at: u64,
    },
    Unknown,
}

/// Limits of one search.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    pub max_configs: usize,
}

/// Searches for a linearization of `ops` (any order) from `init`.
pub fn check<M: Model>(init: &M, ops: &[LinOp<M::Op>], budget: Budget) -> Outcome {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&j| ops[j].inv);
    let ops: Vec<&LinOp<M::Op>> = order.iter().map(|&j| &ops[j]).collect();
    let n = ops.len();
    let required = ops.iter().filter(|o| o.known()).count();
    let mut lin = vec![0u64; n.div_ceil(64)];
    let mut done = 0usize;
    let mut memo: HashSet<(Vec<u64>, M)> = HashSet::new();
    // The op that blocked the deepest configuration reached, for the report.
    let mut deepest = (0usize, 0u64);

    struct Frame<M> {
        applied: Option<usize>,
        cands: Vec<(usize, M)>,
        next: usize,
    }
    let expand = |lin: &[u64], model: &M| -> (Vec<(usize, M)>, u64) {
        let is_lin = |j: usize| lin[j / 64] & (1 << (j % 64)) != 0;
        let min_ret = (0..n)
            .filter(|&j| !is_lin(j))
            .map(|j| ops[j].ret)
            .min()
            .unwrap_or(u64::MAX);
        let mut cands = Vec::new();
        for (j, op) in ops.iter().enumerate() {
            if op.inv > min_ret {
                break;
            }
            if is_lin(j) {
                continue;
            }
            for next in model.step(op) {
                cands.push((j, next));
            }
        }
        (cands, min_ret)
    };

    if required == 0 {
        return Outcome::Linearizable;
    }
    let (cands, min_ret) = expand(&lin, init);
    deepest.1 = min_ret;
    let mut stack = vec![Frame {
        applied: None,
        cands,
        next: 0,
    }];
    let mut steps = 0u64;
    while let Some(top) = stack.last_mut() {
        steps += 1;
        if steps.is_multiple_of(512) && Instant::now() > budget.deadline {
            return Outcome::Unknown;
        }
        if top.next < top.cands.len() {
            let (j, model) = top.cands[top.next].clone();
            top.next += 1;
            lin[j / 64] |= 1 << (j % 64);
            if ops[j].known() {
                done += 1;
            }
            if done == required {
                return Outcome::Linearizable;
            }
            if memo.len() >= budget.max_configs {
                return Outcome::Unknown;
            }
            if !memo.insert((lin.clone(), model.clone())) {
                lin[j / 64] &= !(1 << (j % 64));
                if ops[j].known() {
                    done -= 1;
                }
                continue;
            }
            let (cands, min_ret) = expand(&lin, &model);
            if done >= deepest.0 {
                deepest = (done, min_ret);
            }
            stack.push(Frame {
                applied: Some(j),
                cands,
                next: 0,
            });
        } else {
            let applied = top.applied;
            stack.pop();
            if let Some(j) = applied {
                lin[j / 64] &= !(1 << (j % 64));
                if ops[j].known() {
                    done -= 1;
                }
            }
        }
    }
    Outcome::NotLinearizable { at: deepest.1 }
}

/// Tries every order of every subset that contains all known ops, keeping real-time
/// order (a op that returned before another was invoked comes first). Exponential:
/// for tests on a handful of ops only.
pub fn brute_force<M: Model>(init: &M, ops: &[LinOp<M::Op>]) -> bool {
    fn go<M: Model>(states: Vec<M>, ops: &[LinOp<M::Op>], used: &mut Vec<bool>) -> bool {
        if states.is_empty() {
            return false;
        }
        if ops.iter().zip(used.iter()).all(|(o, &u)| u || !o.known()) {
            return true;
        }
        for j in 0..ops.len() {
            if used[j] {
                continue;
            }
            // j may come next only if no unused op finished before j began.
            let blocked = (0..ops.len()).any(|k| !used[k] && k != j && ops[k].ret < ops[j].inv);
            if blocked {
                continue;
            }
            let next: Vec<M> = states.iter().flat_map(|s| s.step(&ops[j])).collect();
            used[j] = true;
            if go(next, ops, used) {
                return true;
            }
            used[j] = false;
        }
        false
    }
    let mut used = vec![false; ops.len()];
    go(vec![init.clone()], ops, &mut used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A register with write(v) and read() -> v, for testing the search itself.
    #[derive(Clone, PartialEq, Eq, Hash)]
    struct Reg(u8);
    #[derive(Clone, Debug)]
    enum RegOp {
        Write(u8),
        Read(Option<u8>),
    }
    impl Model for Reg {
        type Op = RegOp;
        fn step(&self, op: &LinOp<RegOp>) -> Vec<Reg> {
            match op.op {
                RegOp::Write(v) => vec![Reg(v)],
                RegOp::Read(Some(v)) if v == self.0 => vec![self.clone()],
                RegOp::Read(None) => vec![self.clone()],
                RegOp::Read(_) => vec![],
            }
        }
    }
    fn budget() -> Budget {
        Budget {
            deadline: Instant::now() + Duration::from_secs(10),
            max_configs: 1_000_000,
        }
    }
    fn op(inv: u64, ret: u64, op: RegOp) -> LinOp<RegOp> {
        LinOp { inv, ret, op }
    }

    #[test]
    fn stale_read_after_write_is_caught() {
        let h = vec![op(0, 10, RegOp::Write(1)), op(20, 30, RegOp::Read(Some(0)))];
        assert_eq!(check(&Reg(0), &h, budget()), Outcome::NotLinearizable { at: 30 });
        assert!(!brute_force(&Reg(0), &h));
    }

    #[test]
    fn concurrent_read_may_see_either() {
        let h = vec![op(0, 10, RegOp::Write(1)), op(5, 30, RegOp::Read(Some(0)))];
        assert_eq!(check(&Reg(0), &h, budget()), Outcome::Linearizable);
        let h = vec![op(0, u64::MAX, RegOp::Write(1)), op(50, 60, RegOp::Read(Some(1)))];
        assert_eq!(check(&Reg(0), &h, budget()), Outcome::Linearizable);
    }

    #[test]
    fn differential_against_brute_force() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut disagreements = 0;
        let (mut yes, mut no) = (0, 0);
        for _ in 0..3000 {
            let n = rng.random_range(1..=6);
            let h: Vec<LinOp<RegOp>> = (0..n)
                .map(|_| {
                    let inv = rng.random_range(0..20u64);
                    let ret = if rng.random_bool(0.15) {
                        u64::MAX
                    } else {
                        inv + rng.random_range(1..8u64)
                    };
                    let o = if rng.random_bool(0.5) {
                        RegOp::Write(rng.random_range(0..3))
                    } else {
                        RegOp::Read(Some(rng.random_range(0..3)))
                    };
                    op(inv, ret, o)
                })
                .collect();
            let a = check(&Reg(0), &h, budget()) == Outcome::Linearizable;
            let b = brute_force(&Reg(0), &h);
            if a != b {
                disagreements += 1;
            }
            if b {
                yes += 1
            } else {
                no += 1
            }
        }
        assert_eq!(disagreements, 0);
        assert!(yes > 100 && no > 100, "both outcomes exercised: {yes} {no}");
    }

    #[test]
    fn budget_gives_unknown() {
        let h: Vec<LinOp<RegOp>> = (0..40)
            .map(|k| op(0, u64::MAX, RegOp::Write(k % 3)))
            .chain([op(0, 100, RegOp::Read(Some(9)))])
            .collect();
        let b = Budget {
            deadline: Instant::now() + Duration::from_secs(5),
            max_configs: 1000,
        };
        assert_eq!(check(&Reg(0), &h, b), Outcome::Unknown);
    }
}
