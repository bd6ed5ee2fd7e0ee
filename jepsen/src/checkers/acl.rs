//! `acl`: a client limited by its key patterns never gets what lies outside them. Every
//! `forbidden-*` op (a lock, or the lock a fenced write names, outside the user's
//! patterns) must fail with -NOPERM; one that completes `:ok` is an anomaly. A run where
//! no probe was refused at all proves nothing, and says so (unknown).

use super::{Anomaly, Report, Validity};
use crate::history::{pairs, Op, Type};

pub fn check(ops: &[Op]) -> Report {
    let mut anomalies = Vec::new();
    let mut refused = 0usize;
    for p in pairs(ops) {
        if !p.f.starts_with("forbidden") {
            continue;
        }
        match p.typ {
            Type::Ok => anomalies.push(Anomaly {
                kind: "forbidden-name-served",
                at: p.ret,
                detail: format!("{} {:?} answered {:?}", p.f, p.req.str("name"), p.resp.str("reply")),
            }),
            Type::Fail if p.resp.str("error").is_some_and(|e| e.starts_with("NOPERM")) => refused += 1,
            _ => {}
        }
    }
    let mut r = Report::from("acl", anomalies);
    if r.valid == Validity::Valid && refused == 0 {
        r.valid = Validity::Unknown;
        r.note = "no forbidden probe was refused: the run did not exercise the check".into();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{map, s, Proc, V};

    fn op(typ: Type, f: &'static str, index: usize, value: V) -> Op {
        Op {
            index,
            time: index as u64,
            typ,
            process: Proc::Client(0),
            f,
            value,
        }
    }

    #[test]
    fn a_served_forbidden_name_is_an_anomaly() {
        let req = map(vec![("name", s("secret0"))]);
        let refused = vec![
            op(Type::Invoke, "forbidden-lock", 0, req.clone()),
            op(
                Type::Fail,
                "forbidden-lock",
                1,
                req.with("error", s("NOPERM No permissions to access a key")),
            ),
        ];
        assert_eq!(check(&refused).valid, Validity::Valid);
        let mut served = refused.clone();
        served.push(op(Type::Invoke, "forbidden-fence", 2, req.clone()));
        served.push(op(Type::Ok, "forbidden-fence", 3, req.with("reply", s("Okay"))));
        let r = check(&served);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.anomalies[0].kind, "forbidden-name-served");
        assert_eq!(check(&[]).valid, Validity::Unknown);
    }
}
