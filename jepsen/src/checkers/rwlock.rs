//! `rwlock`: a writer never holds at the same time as anyone else; readers share. Spans
//! are `held.rs`'s (certainly held: grant completion to the earliest RELEASE sent or
//! possible lease end). The workload weighs a writer as the whole limit and a reader as
//! one unit (more readers than the limit cannot exist at once), so "overfull" is exactly
//! a writer overlapping another holder.

use super::held::{leases, overfull};
use super::{Anomaly, Report};
use crate::history::{pairs, Op};

/// Checks every RWLOCK name in `ops`.
pub fn check(ops: &[Op]) -> Report {
    let anomalies = overfull(&leases(&pairs(ops)))
        .into_iter()
        .map(|(name, at, _, _, owners)| Anomaly {
            kind: "writer-not-alone",
            at,
            detail: format!("{name}: a writer held together with others: {owners:?}"),
        })
        .collect();
    Report::from("rwlock", anomalies)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::push;
    use super::super::Validity;
    use super::*;
    use crate::history::{i, map, s, Type};

    const MS: u64 = 1_000_000;
    fn grant(ops: &mut Vec<Op>, p: u64, owner: &str, write: bool, inv: u64, token: u64) {
        let req = map(vec![
            ("name", s("rw")),
            ("owner", s(owner)),
            ("ttl", i(1000)),
            ("count", i(if write { 1000 } else { 1 })),
            ("limit", i(1000)),
        ]);
        push(
            ops,
            p,
            "acquire",
            inv * MS,
            (inv + 2) * MS,
            Type::Ok,
            req.clone(),
            req.with("token", i(token)),
        );
    }

    #[test]
    fn readers_share_and_a_writer_must_be_alone() {
        let mut ops = Vec::new();
        grant(&mut ops, 1, "r1", false, 0, 1);
        grant(&mut ops, 2, "r2", false, 10, 2);
        grant(&mut ops, 3, "w", true, 1500, 3); // both readers' leases may be over
        assert_eq!(check(&ops).valid, Validity::Valid);
        grant(&mut ops, 4, "r3", false, 1600, 4); // while the writer certainly holds
        assert_eq!(check(&ops).anomalies[0].kind, "writer-not-alone");
    }
}
