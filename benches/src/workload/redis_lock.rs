//! redis-py's `redis.lock.Lock`, uncontended, as it goes over the wire: `acquire(blocking=False)`
//! is `SET name token NX PX timeout` with a fresh uuid hex token, `release()` is EVALSHA of
//! the library's own release script (sent verbatim, so the SHA is the one redis-py sends).
//! Runs on fencepost, which speaks this dialect, as well as on redis: on a fencepost target
//! it is what an unchanged redis-py application pays, beside fencepost's own lock cycle.

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::Rng;

use super::{Batch, Plan};
use crate::resp::{Conn, Reply};

/// `Lock.LUA_RELEASE_SCRIPT` of redis-py (as in 6.4.0), whitespace included, so that the
/// SHA1 the target computes is the one redis-py's `Script` sends with EVALSHA.
pub const REDIS_PY_RELEASE: &str = "
        local token = redis.call('get', KEYS[1])
        if not token or token ~= ARGV[1] then
            return 0
        end
        redis.call('del', KEYS[1])
        return 1
    ";

/// SHA1 of [`REDIS_PY_RELEASE`] as redis-py computes it; the plan checks SCRIPT LOAD's answer against it.
pub const REDIS_PY_RELEASE_SHA: &[u8] = b"c3f8721cbb97f72bc19e972846bd7aaf91901658";

/// `r.lock(name, timeout=10)`: redis-py sends the timeout as PX in milliseconds.
const LOCK_TTL_MS: &[u8] = b"10000";

/// `pipeline` acquires (fresh names, fresh 32-hex-digit tokens as `uuid1().hex`) in one
/// write, then the releases of those granted in a second.
pub async fn resp(plan: &Plan, conn: &mut Conn, rng: &mut SmallRng) -> Result<Batch> {
    let locks: Vec<(Vec<u8>, Vec<u8>)> = (0..plan.pipeline)
        .map(|_| {
            let name = format!("lock:{}", rng.random::<u64>()).into_bytes();
            let token = format!("{:032x}", rng.random::<u128>()).into_bytes();
            (name, token)
        })
        .collect();
    for (name, token) in &locks {
        conn.push(&[b"SET", name, token, b"NX", b"PX", LOCK_TTL_MS]);
    }
    conn.flush().await?;
    let mut out = Batch::default();
    let mut held = Vec::with_capacity(locks.len());
    for lock in &locks {
        match conn.read().await? {
            Reply::Simple(s) if s == "OK" => held.push(lock),
            r => out.fail(format!("acquire: {r:?}")),
        }
    }
    if held.is_empty() {
        return Ok(out);
    }
    for (name, token) in &held {
        conn.push(&[b"EVALSHA", &plan.redis_py_release_sha, b"1", name, token]);
    }
    conn.flush().await?;
    for _ in &held {
        match conn.read().await? {
            Reply::Int(1) => out.ok += 1,
            r => out.fail(format!("release: {r:?}")),
        }
    }
    Ok(out)
}
