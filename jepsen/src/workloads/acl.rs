//! `lock-fence-acl`: `lock-fence` run as a user limited to its own lock and resource
//! names (`~lf*`, `~r*`, @lock and @fence only), under the same faults. Now and then a
//! client reaches for a name outside its patterns, a lock (`LOCK ACQUIRE secret<k>`) or
//! the lock a fenced write names (`FENCE SET ... LOCK secret<k>`): each must be refused
//! with -NOPERM on every node, whoever leads (the `acl` checker).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use super::{args, Shared, Worker};
use crate::client::{Client, Outcome};
use crate::cluster::addr;
use crate::history::{map, s, Type};

/// The restricted user the clients run as.
pub const USER: &str = "team";
pub const PASSWORD: &str = "team-secret";

/// Makes the user afresh (ACL DELUSER, then SETUSER, through the default user, before
/// any fault), retrying until a node answers +OK.
pub async fn setup(shared: Arc<Shared>) -> anyhow::Result<()> {
    let rule = [
        "ACL",
        "SETUSER",
        USER,
        "on",
        &format!(">{PASSWORD}"),
        "~lf*",
        "~r*",
        "-@all",
        "+@lock",
        "+@fence",
    ];
    let words: Vec<String> = rule.iter().map(|w| w.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        for n in 1..=shared.nodes {
            let mut c = Client::new(addr(n), Duration::from_secs(2));
            // Start from no such user (a leftover of an earlier run on reused data would
            // keep its old rules otherwise): DELUSER answers how many it removed.
            let del = c.call(&args(&[&"ACL", &"DELUSER", &USER])).await;
            if !matches!(del, Outcome::Ok(_)) {
                last = format!("DELUSER: {del:?}");
                continue;
            }
            match c.call(&words).await {
                Outcome::Ok(_) => return Ok(()),
                other => last = format!("{other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("ACL SETUSER {USER} never succeeded: {last}")
}

/// One reach outside the user's patterns, recorded as `forbidden-lock` or
/// `forbidden-fence`; the server must refuse it.
pub async fn probe(wk: &mut Worker, k: usize) {
    let secret = format!("secret{k}");
    let (f, words) = if wk.rng.random_bool(0.5) {
        (
            "forbidden-lock",
            args(&[&"LOCK", &"ACQUIRE", &secret, &wk.owner(), &1000]),
        )
    } else {
        let res = format!("r{k}");
        (
            "forbidden-fence",
            args(&[&"FENCE", &"SET", &res, &0, &"x", &"LOCK", &secret]),
        )
    };
    let req = map(vec![("name", s(secret))]);
    match wk.call(f, &req, &words).await {
        Outcome::Refused(code, msg) => wk.done(Type::Fail, f, req.with("error", s(format!("{code} {msg}")))),
        Outcome::Ok(v) => wk.done(Type::Ok, f, req.with("reply", s(format!("{v:?}")))),
        other => wk.done_other(f, &req, &other),
    }
}
