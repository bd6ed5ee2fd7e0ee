//! `fifo`: LOCK ACQUIRE ... WAIT grants come in enqueue order. The workload confirms
//! each waiter's place (LOCK INFO shows the queue grown) before it queues the next, and
//! records a `:confirmed` op; two confirmed waiters of one round that are both granted
//! must get tokens in that order.

use std::collections::BTreeMap;

use super::{Anomaly, Report};
use crate::history::{pairs, Op, Type};

/// Checks every round's confirmed waiters.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    // round -> [(confirmation order, owner)]
    let mut confirmed: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    // (round, owner) -> token
    let mut granted: BTreeMap<(i64, String), (i64, u64)> = BTreeMap::new();
    for p in &ps {
        let (Some(round), Some(owner)) = (p.req.int("round"), p.req.str("owner")) else {
            continue;
        };
        match p.f {
            "confirmed" if p.typ == Type::Ok => confirmed
                .entry(round)
                .or_default()
                .push((p.req.int("seq").unwrap_or(0), owner.to_string())),
            "acquire-wait" if p.typ == Type::Ok => {
                if let Some(t) = p.resp.int("token") {
                    granted.insert((round, owner.to_string()), (t, p.ret));
                }
            }
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    for (round, mut ws) in confirmed {
        ws.sort();
        let toks: Vec<(&str, i64, u64)> = ws
            .iter()
            .filter_map(|(_, o)| granted.get(&(round, o.clone())).map(|(t, at)| (o.as_str(), *t, *at)))
            .collect();
        for pair in toks.windows(2) {
            if pair[1].1 <= pair[0].1 {
                anomalies.push(Anomaly {
                    kind: "fifo-violated",
                    at: pair[1].2.max(pair[0].2),
                    detail: format!(
                        "round {round}: {} queued before {} but got token {} vs {}",
                        pair[0].0, pair[1].0, pair[0].1, pair[1].1
                    ),
                });
            }
        }
    }
    Report::from("fifo", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s};

    fn round(tokens: &[(&str, u64)]) -> Vec<Op> {
        let mut ops = Vec::new();
        for (k, (o, _)) in tokens.iter().enumerate() {
            let req = map(vec![("round", i(1)), ("owner", s(*o)), ("seq", i(k as u64))]);
            push(
                &mut ops,
                50 + k as u64,
                "confirmed",
                k as u64 * 10,
                k as u64 * 10 + 1,
                Type::Ok,
                req.clone(),
                req,
            );
        }
        for (k, (o, t)) in tokens.iter().enumerate() {
            let req = map(vec![("round", i(1)), ("owner", s(*o)), ("name", s("q"))]);
            push(
                &mut ops,
                k as u64,
                "acquire-wait",
                0,
                100 + *t,
                Type::Ok,
                req.clone(),
                req.with("token", i(*t)),
            );
        }
        ops
    }

    #[test]
    fn in_order_is_valid_and_out_of_order_is_caught() {
        assert_eq!(check(&round(&[("a", 3), ("b", 4), ("c", 9)])).valid, Validity::Valid);
        assert_eq!(check(&round(&[("a", 3), ("b", 9), ("c", 4)])).valid, Validity::Invalid);
    }
}
