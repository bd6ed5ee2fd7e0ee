//! Lock-release scripts that every lock cycle of an unchanged Redis application runs,
//! recognised by their SHA-1 and run without Lua.
//!
//! A Lua run costs a replica ~4 µs against ~0.5 µs for a whole native lock cycle
//! (`cargo bench --bench micro -- "lock cycle apply"`), on every replica, so redis-py's
//! `Lock` ran well below fencepost's own LOCK (issue 19). These scripts are a
//! compare-and-delete: GET the key, DEL it if it holds the caller's token. Here they
//! make the same `redis.call`s through the same session (ACL checks, undo log) and give
//! the same reply. Whenever a call answers anything but the common case (an error: a
//! wrong type, a denied command or key, a read-only script), nothing has changed yet,
//! and the script runs in Lua, which raises that error exactly as before. Any other
//! script, or these with other arguments, always runs in Lua.

use std::sync::OnceLock;

use bytes::Bytes;

use super::{sha1, Session};
use crate::sm::rval::RVal;

/// `redis.lock.Lock.LUA_RELEASE_SCRIPT` of redis-py (4.x to 6.x), whitespace included:
/// its SHA-1 is what redis-py sends with EVALSHA.
pub const REDIS_PY_RELEASE: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    ";

/// The release in the Redis documentation's single-instance lock pattern.
pub const DOCS_RELEASE: &str = r#"if redis.call("get",KEYS[1]) == ARGV[1] then
    return redis.call("del",KEYS[1])
else
    return 0
end"#;

/// The same, on one line (as many libraries and fencepost's own benchmark send it).
pub const DOCS_RELEASE_ONE_LINE: &str =
    r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end"#;

/// What a recognised script answers once it deleted the key.
#[derive(Clone, Copy)]
enum Deleted {
    /// `return 1`.
    One,
    /// `return redis.call("del", ...)`: DEL's own reply.
    DelReply,
}

fn known() -> &'static [(String, Deleted)] {
    static KNOWN: OnceLock<Vec<(String, Deleted)>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        [
            (REDIS_PY_RELEASE, Deleted::One),
            (DOCS_RELEASE, Deleted::DelReply),
            (DOCS_RELEASE_ONE_LINE, Deleted::DelReply),
        ]
        .into_iter()
        .map(|(body, d)| (sha1::sha1_hex(body.as_bytes()), d))
        .collect()
    })
}

/// The reply of script `sha` run natively, or None: run it in Lua.
pub(super) fn run(session: &mut Session<'_, '_>, sha: &str, keys: &[Bytes], argv: &[Bytes]) -> Option<RVal> {
    let deleted = known().iter().find(|(s, _)| s == sha)?.1;
    let ([key], [token, ..]) = (keys, argv) else {
        return None;
    };
    let held = match session.call(&[Bytes::from_static(b"get"), key.clone()]) {
        RVal::Bulk(v) => v == token,
        RVal::Nil => false,
        _ => return None,
    };
    if !held {
        return Some(RVal::Int(0));
    }
    match (session.call(&[Bytes::from_static(b"del"), key.clone()]), deleted) {
        (RVal::Int(_), Deleted::One) => Some(RVal::Int(1)),
        (reply @ RVal::Int(_), Deleted::DelReply) => Some(reply),
        _ => None,
    }
}
