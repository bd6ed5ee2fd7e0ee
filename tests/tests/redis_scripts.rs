//! Scripts on a 3-node cluster: every replica ends in the same state (RAFT STATEHASH at
//! equal applied indexes) after scripts that draw random numbers, read TIME, fail
//! midway, run away, bomb memory or reach for forbidden functions; writes before an
//! error stay; the cluster serves other clients after a runaway; the script cache
//! survives a failover (EVALSHA on the new leader).

use std::time::{Duration, Instant};

use fencepost_tests::*;

/// (applied index, state hash) of node `id`.
fn state_hash(c: &TestCluster, id: u64) -> Option<(i64, String)> {
    let r = c.try_cmd(id, &["RAFT", "STATEHASH"]).ok()?;
    Some((r.field("applied-index")?.int(), r.field("state-hash")?.text()))
}

/// Waits until every node in `ids` has applied the same index, and returns the hashes.
fn agreed_hashes(c: &TestCluster, ids: &[u64]) -> Vec<String> {
    wait_until(Duration::from_secs(20), "replicas apply the same index", || {
        let hs: Vec<(i64, String)> = ids.iter().map(|&id| state_hash(c, id)).collect::<Option<_>>()?;
        hs.windows(2)
            .all(|w| w[0].0 == w[1].0)
            .then(|| hs.into_iter().map(|h| h.1).collect())
    })
}

#[test]
fn replicas_agree_after_every_kind_of_script() {
    let _serial = heavy_lock();
    let c = TestCluster::start(3);
    let leader = c.leader(TestCluster::SETUP);
    let follower = c.followers_of(leader)[0];
    let mut f = c.conn(follower);
    let scripts: &[(&str, &str)] = &[
        ("return redis.call('SET', 'rand', math.random(1000000))", ""),
        (
            "local t = redis.call('TIME') return redis.call('SET', 'time', t[1] .. '.' .. t[2])",
            "",
        ),
        (
            "redis.call('SET', 'before-error', 1) return redis.call('HSET', 'before-error', 'f', 'v')",
            "WRONGTYPE",
        ),
        (
            "redis.call('INCR', 'before-runaway') while true do end",
            "ERR script killed: instruction budget",
        ),
        (
            "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 1048576) .. i end",
            "ERR script killed",
        ),
        (
            "return os.time()",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'os'",
        ),
        (
            "return loadstring('return 1')()",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'loadstring'",
        ),
        ("redis.call('SET', 'mid', 'x') error('boom')", "ERR user_script:1: boom"),
        (
            "for i = 1, 100 do redis.call('ZADD', 'z', math.random(), 'm' .. i) end return redis.call('ZCARD', 'z')",
            "",
        ),
    ];
    for (body, want_err) in scripts {
        let started = Instant::now();
        let r = f.cmd(&["EVAL", body, "0"]);
        match r.err_text() {
            Some(e) => assert!(!want_err.is_empty() && e.starts_with(want_err), "{body}: {e}"),
            None => assert!(want_err.is_empty(), "{body}: expected {want_err}, got {r:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{body} took {:?}",
            started.elapsed()
        );
        // The cluster keeps serving after each one.
        assert_eq!(c.conn(leader).cmd(&["SET", "alive", "1"]), Reply::ok());
    }
    assert_eq!(
        f.cmd(&["GET", "before-error"]),
        bulk("1"),
        "writes before an error stay"
    );
    assert_eq!(
        f.cmd(&["GET", "before-runaway"]),
        bulk("1"),
        "writes before an abort stay"
    );
    assert_eq!(f.cmd(&["GET", "mid"]), bulk("x"));
    let hashes = agreed_hashes(&c, &c.ids());
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "replicas differ: {hashes:?}");
}

#[test]
fn the_script_cache_survives_a_failover() {
    let _serial = heavy_lock();
    let mut c = TestCluster::start(3);
    let leader = c.leader(TestCluster::SETUP);
    let follower = c.followers_of(leader)[0];
    let body = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    let sha = c.conn(follower).cmd(&["SCRIPT", "LOAD", body]).text();
    assert_eq!(sha.len(), 40);
    assert_eq!(c.conn(follower).cmd(&["EVALSHA", &sha, "1", "n", "5"]), int(5));
    c.kill9(leader);
    let rest: Vec<u64> = c.ids().into_iter().filter(|&id| id != leader).collect();
    let new_leader = c.leader_among(&rest, TestCluster::SETUP);
    let r = c.cmd_retry(new_leader, &["EVALSHA", &sha, "1", "n", "2"], Duration::from_secs(20));
    assert_eq!(r, int(7));
    assert_eq!(
        c.conn(new_leader).cmd(&["SCRIPT", "EXISTS", &sha, "0000"]),
        arr(vec![int(1), int(0)])
    );
    assert_eq!(
        c.conn(new_leader)
            .cmd(&["EVALSHA", "0000000000000000000000000000000000000000", "0"]),
        err("NOSCRIPT No matching script. Please use EVAL.")
    );
    // Read-only scripts run after ReadIndex, on any node.
    let other = rest.into_iter().find(|&id| id != new_leader).unwrap_or(new_leader);
    assert_eq!(
        c.conn(other)
            .cmd(&["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "n"]),
        bulk("7")
    );
    assert!(c
        .conn(other)
        .cmd(&["EVAL_RO", "return redis.call('SET', KEYS[1], 1)", "1", "n"])
        .is_err_with("ERR Write commands are not allowed from read-only scripts."));
}
