//! `redis-data`: the Redis data commands checked for linearizability against the model
//! of `kv_model.rs`, one search per key family (the workload never lets a command span
//! two families, so families compose). An op whose reply was lost may take effect at
//! any point after its invocation, or never; an error reply changed nothing, so it is
//! recorded as `:info` and may equally be placed anywhere or nowhere.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::kv_model::{ErrReply, Kv};
use super::linear::{self, Budget, LinOp, Model, Outcome};
use super::{Anomaly, Report, Validity};
use crate::history::{pairs, Op, Type, V};

/// One command and its canonical reply (`None` when unknown).
#[derive(Debug, Clone)]
pub struct KvOp {
    pub words: Vec<String>,
    pub reply: Option<String>,
}

impl Model for Kv {
    type Op = KvOp;

    fn step(&self, op: &LinOp<KvOp>) -> Vec<Kv> {
        let mut next = self.clone();
        match (next.apply(&op.op.words), &op.op.reply) {
            (Ok(got), Some(want)) if got == *want => vec![next],
            (Ok(_), None) => vec![next],
            // An error changes nothing; only a lost reply can hide one.
            (Err(ErrReply), None) => vec![self.clone()],
            _ => vec![],
        }
    }
}

/// The words of a recorded command (`:cmd` is a vector of strings).
fn words(v: &V) -> Vec<String> {
    match v.get("cmd") {
        Some(V::Vec(items)) => items
            .iter()
            .map(|x| match x {
                V::Str(s) => s.clone(),
                V::Int(n) => n.to_string(),
                _ => String::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks every family's sub-history within `budget` in total.
pub fn check(ops: &[Op], budget: Duration) -> Report {
    let mut by_family: BTreeMap<String, Vec<LinOp<KvOp>>> = BTreeMap::new();
    for p in pairs(ops).iter().filter(|p| p.f == "kv" && p.typ != Type::Fail) {
        let Some(fam) = p.req.str("family") else { continue };
        let reply = (p.typ == Type::Ok).then(|| p.resp.str("reply").unwrap_or("").to_string());
        by_family.entry(fam.to_string()).or_default().push(LinOp {
            inv: p.inv,
            ret: p.ret,
            op: KvOp {
                words: words(&p.req),
                reply,
            },
        });
    }
    let deadline = Instant::now() + budget;
    let mut anomalies = Vec::new();
    let mut unknown = Vec::new();
    for (fam, lin) in by_family {
        let b = Budget {
            deadline,
            max_configs: 2_000_000,
        };
        match linear::check(&Kv::default(), &lin, b) {
            Outcome::Linearizable => {}
            Outcome::NotLinearizable { at } => anomalies.push(Anomaly {
                kind: "not-linearizable",
                at,
                detail: format!(
                    "family {fam}: no linearization of its {} commands fits Redis's semantics",
                    lin.len()
                ),
            }),
            Outcome::Unknown => unknown.push(fam),
        }
    }
    let mut r = Report::from("redis-data", anomalies);
    if r.valid == Validity::Valid && !unknown.is_empty() {
        r.valid = Validity::Unknown;
        r.note = format!("search budget ran out for {}", unknown.join(","));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::*;
    use crate::history::{map, s};

    fn kv(ops: &mut Vec<Op>, p: u64, inv: u64, ret: u64, cmd: &str, reply: Option<&str>) {
        let req = map(vec![
            ("family", s("f")),
            ("cmd", V::Vec(cmd.split(' ').map(s).collect())),
        ]);
        let (typ, resp) = match reply {
            Some(r) => (Type::Ok, req.with("reply", s(r))),
            None => (Type::Info, req.clone()),
        };
        push(ops, p, "kv", inv, ret, typ, req, resp);
    }

    #[test]
    fn concurrent_writes_and_reads_that_fit_are_valid() {
        let mut ops = Vec::new();
        kv(&mut ops, 1, 0, 10, "SET a 1", Some("OK"));
        kv(&mut ops, 2, 5, 30, "INCR a", Some("2"));
        kv(&mut ops, 3, 6, 20, "GET a", Some("1")); // before the INCR took effect
        kv(&mut ops, 4, 40, 50, "RPUSH l x", None); // lost reply
        kv(&mut ops, 5, 60, 70, "LRANGE l 0 -1", Some("[x]"));
        kv(&mut ops, 1, 80, 90, "GET a", Some("2"));
        assert_eq!(check(&ops, Duration::from_secs(5)).valid, Validity::Valid);
    }

    #[test]
    fn a_lost_update_or_stale_read_is_caught() {
        let mut ops = Vec::new();
        kv(&mut ops, 1, 0, 10, "SET a 1", Some("OK"));
        kv(&mut ops, 2, 20, 30, "INCR a", Some("2"));
        kv(&mut ops, 3, 40, 50, "GET a", Some("1")); // after the INCR completed
        assert_eq!(check(&ops, Duration::from_secs(5)).valid, Validity::Invalid);
        let mut ops = Vec::new();
        kv(&mut ops, 1, 0, 10, "HSET h f 1", Some("1"));
        kv(&mut ops, 2, 20, 30, "HSET h f 2", Some("1")); // f existed: must answer 0
        assert_eq!(check(&ops, Duration::from_secs(5)).valid, Validity::Invalid);
    }
}
