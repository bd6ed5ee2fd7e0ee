//! Redis data commands on one real server, as clients see them: expiry on the cluster
//! clock, absolute times against the receiving node's wall clock, WRONGTYPE between
//! fencepost objects and Redis values, WATCH/MULTI/EXEC across connections, RESP2 and
//! RESP3 reply shapes, CL.THROTTLE, value caps, and redis-cli running a script.
//! (Reply texts are checked against redis-server itself in redis_diff.rs.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fencepost_tests::*;

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[test]
fn expired_keys_are_invisible_at_once() {
    let s = TestServer::start();
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "150"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    let pttl = c.cmd(&["PTTL", "k"]).int();
    assert!((1..=150).contains(&pttl), "pttl {pttl}");
    // Polled: the first read after the deadline must already miss it.
    wait_until(Duration::from_secs(5), "the key expires", || {
        (c.cmd(&["EXISTS", "k"]) == int(0)).then_some(())
    });
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(c.cmd(&["TTL", "k"]), int(-2));
    assert_eq!(
        c.cmd(&["SET", "k", "w", "NX"]),
        Reply::ok(),
        "an expired key is free for NX"
    );
    assert_eq!(c.cmd(&["DBSIZE"]), int(1));
}

#[test]
fn absolute_times_are_read_against_the_wall_clock() {
    let s = TestServer::start();
    let mut c = s.conn();
    let at = (wall_ms() + 60_000).to_string();
    assert_eq!(c.cmd(&["SET", "k", "v", "PXAT", &at]), Reply::ok());
    let pttl = c.cmd(&["PTTL", "k"]).int();
    assert!((55_000..=60_000).contains(&pttl), "PXAT now+60s -> pttl {pttl}");
    let secs = (wall_ms() / 1000 + 120).to_string();
    assert_eq!(c.cmd(&["EXPIREAT", "k", &secs]), int(1));
    let ttl = c.cmd(&["TTL", "k"]).int();
    assert!((115..=121).contains(&ttl), "EXPIREAT now+120s -> ttl {ttl}");
    let past = (wall_ms() / 1000 - 10).to_string();
    assert_eq!(c.cmd(&["EXPIREAT", "k", &past]), int(1), "a past time deletes the key");
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));
    // TIME is the cluster clock, which starts at the wall clock.
    let t = c.cmd(&["TIME"]);
    let secs = t.items()[0].text().parse::<i64>().unwrap_or(0);
    assert!((secs - wall_ms() / 1000).abs() <= 5, "TIME {t:?}");
}

#[test]
fn one_keyspace_with_wrongtype_between_kinds() {
    let s = TestServer::start();
    let mut c = s.conn();
    assert!(c.cmd(&["LOCK", "ACQUIRE", "lk", "me", "60000"]).int() > 0);
    let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for cmd in [
        vec!["GET", "lk"],
        vec!["SET", "lk", "x"],
        vec!["HSET", "lk", "f", "v"],
        vec!["LPUSH", "lk", "v"],
        vec!["ZADD", "lk", "1", "m"],
        vec!["DEL", "lk"],
        vec!["EXPIRE", "lk", "10"],
        vec!["RENAME", "lk", "other"],
    ] {
        assert_eq!(c.cmd(&cmd), err(wt), "{cmd:?}");
    }
    assert_eq!(c.cmd(&["TYPE", "lk"]), simple("lock"));
    assert_eq!(c.cmd(&["EXISTS", "lk"]), int(1));
    assert_eq!(c.cmd(&["SET", "s", "v"]), Reply::ok());
    assert_eq!(c.cmd(&["LOCK", "ACQUIRE", "s", "me", "1000"]), err(wt));
    assert_eq!(c.cmd(&["FENCE", "ADVANCE", "s", "5"]), err(wt));
    assert_eq!(c.cmd(&["TOKENBUCKET", "s", "5", "1", "1000"]), err(wt));
    let keys = c.cmd(&["KEYS", "*"]);
    assert_eq!(keys, arr(vec![bulk("lk"), bulk("s")]));
}

#[test]
fn watch_multi_exec_across_connections() {
    let s = TestServer::start();
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(&["SET", "k", "1"]), Reply::ok());
    assert_eq!(a.cmd(&["WATCH", "k"]), Reply::ok());
    assert_eq!(b.cmd(&["SET", "k", "2"]), Reply::ok());
    assert_eq!(a.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(a.cmd(&["SET", "k", "3"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), Reply::Nil, "a watched key changed");
    assert_eq!(a.cmd(&["GET", "k"]), bulk("2"));
    // Unchanged watch: applied together.
    assert_eq!(a.cmd(&["WATCH", "k"]), Reply::ok());
    assert_eq!(a.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(a.cmd(&["INCR", "k"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["LPUSH", "k", "x"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["GET", "k"]), simple("QUEUED"));
    assert_eq!(
        a.cmd(&["EXEC"]),
        arr(vec![
            int(3),
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            bulk("3")
        ])
    );
    // Errors at queue time abort the transaction; fencepost's own commands are not queued.
    assert_eq!(a.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(a.cmd(&["GET"]), err("ERR wrong number of arguments for 'get' command"));
    assert!(a
        .cmd(&["LOCK", "ACQUIRE", "x", "o", "10"])
        .is_err_with("ERR command not allowed inside MULTI"));
    assert_eq!(
        a.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(a.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(a.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
}

#[test]
fn resp3_shapes_of_doubles_maps_and_scores() {
    let s = TestServer::start();
    let mut c2 = s.conn();
    let mut c3 = s.conn3();
    assert_eq!(c2.cmd(&["ZADD", "z", "1.5", "a", "2", "b"]), int(2));
    assert_eq!(c2.cmd(&["ZSCORE", "z", "a"]), bulk("1.5"));
    assert_eq!(c3.cmd(&["ZSCORE", "z", "a"]), Reply::Double("1.5".into()));
    assert_eq!(
        c2.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        arr(vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("2")])
    );
    assert_eq!(
        c3.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        arr(vec![
            arr(vec![bulk("a"), Reply::Double("1.5".into())]),
            arr(vec![bulk("b"), Reply::Double("2".into())]),
        ])
    );
    assert_eq!(c2.cmd(&["HSET", "h", "f", "v"]), int(1));
    assert_eq!(c2.cmd(&["HGETALL", "h"]), arr(vec![bulk("f"), bulk("v")]));
    assert_eq!(c3.cmd(&["HGETALL", "h"]), Reply::Map(vec![(bulk("f"), bulk("v"))]));
    assert_eq!(c3.cmd(&["GET", "nope"]), Reply::Nil);
}

#[test]
fn cl_throttle_is_redis_cell_on_the_token_bucket() {
    let s = TestServer::start();
    let mut c = s.conn();
    // max_burst 4 (capacity 5), 10 per 60 s: one token every 6 s.
    let first = c.cmd(&["CL.THROTTLE", "user", "4", "10", "60"]);
    assert_eq!(first, arr(vec![int(0), int(5), int(4), int(-1), int(6)]));
    for _ in 0..4 {
        assert_eq!(c.cmd(&["CL.THROTTLE", "user", "4", "10", "60"]).items()[0], int(0));
    }
    let limited = c.cmd(&["CL.THROTTLE", "user", "4", "10", "60"]);
    let v: Vec<i64> = limited.items().iter().map(Reply::int).collect();
    assert_eq!(&v[..3], &[1, 5, 0], "{limited:?}");
    assert!((5..=6).contains(&v[3]), "retry after ~6 s: {limited:?}");
    assert!((29..=30).contains(&v[4]), "full again in ~30 s: {limited:?}");
    assert_eq!(c.cmd(&["TYPE", "user"]), simple("tokenbucket"));
    assert_eq!(
        c.cmd(&["CL.THROTTLE", "user", "4", "10", "60", "6"]),
        err("ERR COST exceeds capacity")
    );
    assert_eq!(
        c.cmd(&["CL.THROTTLE", "user"]),
        err("ERR wrong number of arguments for 'cl.throttle' command")
    );
}

#[test]
fn values_are_capped_and_redis_cli_runs_scripts() {
    let s = TestServer::builder().arg("--max-value-bytes").arg("1000").start();
    let mut c = s.conn();
    let big = "x".repeat(1001);
    assert!(c
        .cmd(&["SET", "k", &big])
        .is_err_with("ERR value is 1001 bytes; the limit is 1000"));
    assert!(c.cmd(&["RPUSH", "l", "a", &big]).is_err_with("ERR value is 1001 bytes"));
    assert_eq!(
        c.cmd(&["GET", &big]),
        Reply::Nil,
        "reads are not capped by the value limit"
    );
    let long_key = "k".repeat(1025);
    assert_eq!(c.cmd(&["SET", &long_key, "v"]), err("ERR key must be 1..=1024 bytes"));
    let out = s.cli(&["EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", "k", "v"]);
    assert_eq!(out.trim(), "OK");
    let out = s.cli(&["EVAL", "return {KEYS[1], tonumber(ARGV[1]) * 2}", "1", "k", "21"]);
    assert_eq!(out.trim(), "1) \"k\"\n2) (integer) 42");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
}
