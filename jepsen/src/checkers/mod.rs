//! Checkers: each reads a history and says valid, invalid (with the anomalies it found)
//! or unknown (it ran out of its budget). None of them can only say "valid": every one
//! has unit tests on hand-built bad histories, and a server mutation it must catch.

pub mod acl;
pub mod bucket;
pub mod extend;
pub mod fence;
pub mod fifo;
pub mod held;
pub mod idemp;
pub mod kv;
pub mod kv_model;
pub mod lease;
pub mod linear;
pub mod lock;
pub mod lock_delay;
pub mod redis_lock;
pub mod register;
pub mod rwlock;
pub mod semaphore;
pub mod sliding;
pub mod tokens;
pub mod waiter_cancel;
pub mod watch;

use crate::history::{i, map, s, V};

/// A checker's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Validity {
    /// Combines verdicts: any invalid is invalid, else any unknown is unknown.
    pub fn and(self, other: Validity) -> Validity {
        match (self, other) {
            (Validity::Invalid, _) | (_, Validity::Invalid) => Validity::Invalid,
            (Validity::Unknown, _) | (_, Validity::Unknown) => Validity::Unknown,
            _ => Validity::Valid,
        }
    }
    /// `true`, `false` or `unknown`, as on the summary line.
    /// The verdict as Jepsen writes `:valid?`: true, false or :unknown.
    pub fn edn(self) -> V {
        match self {
            Validity::Valid => V::Sym("true"),
            Validity::Invalid => V::Sym("false"),
            Validity::Unknown => V::Kw("unknown".into()),
        }
    }
    /// `true`, `false` or `unknown`, as on the summary line.
    pub fn word(self) -> &'static str {
        match self {
            Validity::Valid => "true",
            Validity::Invalid => "false",
            Validity::Unknown => "unknown",
        }
    }
}

/// One thing that should not have happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// Short kind, e.g. `stale-write-accepted`.
    pub kind: &'static str,
    /// Harness time (ns) of the op that shows it, for "caught after how long".
    pub at: u64,
    /// What was seen, for a person.
    pub detail: String,
}

/// What one checker found.
#[derive(Debug, Clone)]
pub struct Report {
    pub checker: &'static str,
    pub valid: Validity,
    pub anomalies: Vec<Anomaly>,
    /// Why the verdict is unknown, when it is.
    pub note: String,
}

impl Report {
    /// A verdict from a list of anomalies: valid exactly when there are none.
    pub fn from(checker: &'static str, anomalies: Vec<Anomaly>) -> Report {
        let valid = if anomalies.is_empty() {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        Report {
            checker,
            valid,
            anomalies,
            note: String::new(),
        }
    }

    /// This report as an EDN map (at most 20 anomalies listed; all are counted).
    pub fn edn(&self) -> V {
        let listed = self
            .anomalies
            .iter()
            .take(20)
            .map(|a| {
                map(vec![
                    ("kind", V::Kw(a.kind.to_string())),
                    ("time", i(a.at)),
                    ("detail", s(a.detail.clone())),
                ])
            })
            .collect();
        map(vec![
            ("checker", V::Kw(self.checker.to_string())),
            ("valid?", self.valid.edn()),
            ("anomaly-count", i(self.anomalies.len() as u64)),
            ("anomalies", V::Vec(listed)),
            ("note", s(self.note.clone())),
        ])
    }
}

/// Slack for comparing harness times with server-side durations: the server's clock
/// may run 1% slow (SPEC.md "Time") and the harness stamps an op a little after it sent
/// it or before it read the reply.
pub fn lease_floor_ns(inv: u64, ttl_ms: u64) -> u64 {
    let ttl_ns = ttl_ms.saturating_mul(1_000_000);
    inv.saturating_add(ttl_ns - ttl_ns / 100).saturating_sub(2_000_000)
}
