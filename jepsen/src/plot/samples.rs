//! What the plot shows of the clients' ops: each completed op's latency, and ok ops
//! per second.

use std::collections::HashMap;

use crate::history::{Op, Proc, Type};

/// One completed client op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Completion time, seconds since the run started.
    pub at_s: f64,
    pub latency_ms: f64,
    pub typ: Type,
}

/// Every completed client op. Unlike `history::pairs`, an `:info` keeps its completion
/// time: the plot shows how long the client waited before giving up.
pub fn latencies(ops: &[Op]) -> Vec<Sample> {
    let mut invoked: HashMap<Proc, u64> = HashMap::new();
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.process != Proc::Nemesis) {
        if op.typ == Type::Invoke {
            invoked.insert(op.process, op.time);
        } else if let Some(t0) = invoked.remove(&op.process) {
            out.push(Sample {
                at_s: op.time as f64 / 1e9,
                latency_ms: op.time.saturating_sub(t0) as f64 / 1e6,
                typ: op.typ,
            });
        }
    }
    out
}

/// ok completions in each whole second of the run.
pub fn ok_per_second(samples: &[Sample]) -> Vec<u32> {
    let mut per_sec: Vec<u32> = Vec::new();
    for s in samples.iter().filter(|s| s.typ == Type::Ok) {
        let sec = s.at_s as usize;
        if per_sec.len() <= sec {
            per_sec.resize(sec + 1, 0);
        }
        per_sec[sec] += 1;
    }
    per_sec
}
