//! `waiter-cancel`: a LOCK waiter whose client disconnected is dropped from the queue
//! and never granted. The `fifo` workload's ghosts (`workloads/ghost.rs`) record
//! `ghost-gone` once LOCK INFO showed the queue empty again with the round's holder
//! still holding; from then on no LOCK INFO may show the ghost as the holder.
//!
//! A run that sent ghosts but never saw one leave the queue is `unknown`: a server that
//! never cancels keeps them queued until their WAIT (far longer than the harness looks),
//! so the check would otherwise pass without having been exercised.

use std::collections::HashMap;

use super::{Anomaly, Report, Validity};
use crate::history::{pairs, Op, Type};

/// Checks every ghost that was seen to leave its queue.
pub fn check(ops: &[Op]) -> Report {
    let ps = pairs(ops);
    // (name, ghost owner) -> when it was seen gone.
    let mut gone: HashMap<(&str, &str), u64> = HashMap::new();
    let mut sent = 0;
    for p in &ps {
        match (p.f, p.typ) {
            ("ghost-wait", t) if t != Type::Fail => sent += 1,
            ("ghost-gone", Type::Ok) => {
                if let (Some(n), Some(o)) = (p.req.str("name"), p.req.str("owner")) {
                    gone.insert((n, o), p.ret);
                }
            }
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    for p in ps.iter().filter(|p| p.f == "info" && p.typ == Type::Ok) {
        let (Some(name), Some(holder)) = (p.req.str("name"), p.resp.str("holder")) else {
            continue;
        };
        if let Some(&at) = gone.get(&(name, holder)) {
            if p.inv > at {
                anomalies.push(Anomaly {
                    kind: "cancelled-waiter-granted",
                    at: p.ret,
                    detail: format!("{name}: {holder} holds the lock after it disconnected and left the queue"),
                });
            }
        }
    }
    let mut r = Report::from("waiter-cancel", anomalies);
    if r.valid == Validity::Valid && sent > 0 && gone.is_empty() {
        r.valid = Validity::Unknown;
        r.note = format!("{sent} waiters disconnected, none was seen to leave its queue");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::*;
    use crate::history::{i, map, s};

    fn ghost(ops: &mut Vec<Op>, gone_at: Option<u64>) {
        let req = map(vec![("name", s("q")), ("owner", s("g")), ("round", i(1))]);
        push(ops, 1, "ghost-wait", 0, 5, Type::Info, req.clone(), req.clone());
        if let Some(t) = gone_at {
            push(ops, 2, "ghost-gone", t, t + 1, Type::Ok, req.clone(), req);
        }
    }
    fn info(ops: &mut Vec<Op>, inv: u64, holder: &str) {
        let req = map(vec![("name", s("q"))]);
        let resp = req.with("holder", s(holder)).with("token", i(7));
        push(ops, 3, "info", inv, inv + 1, Type::Ok, req, resp);
    }

    #[test]
    fn a_ghost_that_left_and_never_holds_is_valid() {
        let mut ops = Vec::new();
        ghost(&mut ops, Some(10));
        info(&mut ops, 20, "w1-r1-0");
        assert_eq!(check(&ops).valid, Validity::Valid);
    }

    #[test]
    fn a_ghost_holding_after_it_left_is_caught() {
        let mut ops = Vec::new();
        ghost(&mut ops, Some(10));
        info(&mut ops, 8, "g"); // before it was seen gone: not judged
        assert_eq!(check(&ops).valid, Validity::Valid);
        info(&mut ops, 20, "g");
        assert_eq!(check(&ops).valid, Validity::Invalid);
    }

    #[test]
    fn ghosts_never_seen_leaving_make_it_unknown() {
        let mut ops = Vec::new();
        ghost(&mut ops, None);
        assert_eq!(check(&ops).valid, Validity::Unknown);
    }
}
