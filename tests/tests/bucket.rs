//! TOKENBUCKET: rate limiting (SPEC.md "TOKENBUCKET"). Reply fields, in order:
//! [limited, capacity, remaining, retry-after-ms, reset-after-ms].

use std::time::{Duration, Instant};

use fencepost_tests::*;

/// One call; checks the reply is exactly 5 integers and returns them.
fn tb(c: &mut Conn, args: &[&str]) -> [i64; 5] {
    let mut full = vec!["TOKENBUCKET"];
    full.extend_from_slice(args);
    let r = c.cmd(&full);
    let items = match &r {
        Reply::Array(v) if v.len() == 5 => v,
        other => panic!("{full:?} -> {other:?}, want an array of 5 integers"),
    };
    let mut out = [0i64; 5];
    for (i, it) in items.iter().enumerate() {
        out[i] = match it {
            Reply::Int(n) => *n,
            other => panic!("{full:?} -> field {i} is {other:?}, want an integer ({r:?})"),
        };
    }
    out
}

fn cli_five(out: &str) -> [i64; 5] {
    let l = cli_lines(out);
    assert_eq!(l.len(), 5, "{out:?}");
    let mut v = [0i64; 5];
    for i in 0..5 {
        assert!(l[i].starts_with(&format!("{}) (integer) ", i + 1)), "{out:?}");
        v[i] = cli_int(l[i]);
    }
    v
}

#[test]
fn five_field_reply_and_starts_full() {
    let s = TestServer::start();
    let k = uniq("tb");
    // 10 tokens, 10 per 10 s: taking one leaves 9, and it takes 1000 ms to be full again.
    assert_eq!(
        s.cli(&["TOKENBUCKET", &k, "10", "10", "10000"]),
        "1) (integer) 0\n2) (integer) 10\n3) (integer) 9\n4) (integer) -1\n5) (integer) 1000\n"
    );
    let k3 = uniq("tb3");
    assert_eq!(
        s.cli3(&["TOKENBUCKET", &k3, "10", "10", "10000"]),
        "1) (integer) 0\n2) (integer) 10\n3) (integer) 9\n4) (integer) -1\n5) (integer) 1000\n"
    );
    // A peek at a new bucket: full, nothing taken, full now (reset 0).
    let mut c = s.conn();
    assert_eq!(
        tb(&mut c, &[&uniq("tbp"), "7", "1", "1000", "COST", "0"]),
        [0, 7, 7, -1, 0]
    );
    let mut c3 = s.conn3();
    assert_eq!(
        tb(&mut c3, &[&uniq("tbp3"), "7", "1", "1000", "COST", "0"]),
        [0, 7, 7, -1, 0]
    );
}

#[test]
fn drains_then_refuses_with_retry_after() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("drain");
    // One token per 1000 s: no visible refill during the test.
    let p = ["5", "1", "1000000"];
    for want in (0..5).rev() {
        let r = tb(&mut c, &[&k, p[0], p[1], p[2]]);
        assert_eq!(r[..4], [0, 5, want, -1], "{r:?}");
        let missing = 5 - want;
        assert!(
            r[4] <= missing * 1_000_000 && r[4] > missing * 1_000_000 - 10_000,
            "reset-after {r:?}"
        );
    }
    let r = tb(&mut c, &[&k, p[0], p[1], p[2]]);
    assert_eq!(r[..3], [1, 5, 0], "{r:?}");
    assert!(r[3] > 990_000 && r[3] <= 1_000_000, "retry-after {r:?}");
    assert!(r[4] > 4_990_000 && r[4] <= 5_000_000, "reset-after {r:?}");
    // redis-cli shows the same refusal.
    let v = cli_five(&s.cli(&["TOKENBUCKET", &k, p[0], p[1], p[2]]));
    assert_eq!(v[..3], [1, 5, 0]);
    assert!(v[3] > 0);
    // A refused call takes nothing: peeking shows 0 left, allowed (COST 0 needs 0).
    let r = tb(&mut c, &[&k, p[0], p[1], p[2], "COST", "0"]);
    assert_eq!(r[..4], [0, 5, 0, -1], "{r:?}");
}

#[test]
fn cost_takes_n_and_cost_zero_peeks() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("cost");
    let p = ["10", "1", "1000000"];
    let r = tb(&mut c, &[&k, p[0], p[1], p[2], "COST", "3"]);
    assert_eq!(r[..4], [0, 10, 7, -1], "{r:?}");
    // Peeking twice takes nothing.
    for _ in 0..2 {
        let r = tb(&mut c, &[&k, p[0], p[1], p[2], "COST", "0"]);
        assert_eq!(r[..4], [0, 10, 7, -1], "{r:?}");
        assert!(r[4] > 2_990_000 && r[4] <= 3_000_000, "{r:?}");
    }
    // More than is there: refused, nothing taken, retry-after ~ the time for one more token.
    let r = tb(&mut c, &[&k, p[0], p[1], p[2], "COST", "8"]);
    assert_eq!(r[..3], [1, 10, 7], "{r:?}");
    assert!(
        r[3] > 990_000 && r[3] <= 1_000_000,
        "retry-after for 1 missing token: {r:?}"
    );
    let r = tb(&mut c, &[&k, p[0], p[1], p[2], "COST", "7"]);
    assert_eq!(r[..4], [0, 10, 0, -1], "{r:?}");
    // Exactly capacity is allowed on a full bucket.
    let k2 = uniq("cost-cap");
    assert_eq!(tb(&mut c, &[&k2, "4", "4", "1000", "COST", "4"])[..4], [0, 4, 0, -1]);
    // Through redis-cli (RESP3) too.
    let k3 = uniq("cost3");
    let v = cli_five(&s.cli3(&["TOKENBUCKET", &k3, "10", "1", "1000000", "COST", "10"]));
    assert_eq!(v[..4], [0, 10, 0, -1]);
    let v = cli_five(&s.cli3(&["TOKENBUCKET", &k3, "10", "1", "1000000", "COST", "0"]));
    assert_eq!(v[..4], [0, 10, 0, -1]);
}

#[test]
fn cost_above_capacity_is_err() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("over");
    let r = c.cmd(&["TOKENBUCKET", &k, "10", "1", "1000", "COST", "11"]);
    assert!(r.is_err_with("ERR "), "COST 11 > capacity 10 -> {r:?}");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    let out = s.cli(&["TOKENBUCKET", &k, "10", "1", "1000", "COST", "11"]);
    assert!(out.starts_with("(error) ERR "), "{out:?}");
    // The bucket was not touched: still full.
    assert_eq!(tb(&mut c, &[&k, "10", "1", "1000", "COST", "0"]), [0, 10, 10, -1, 0]);
}

#[test]
fn refill_is_smooth() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("smooth");
    // 100 tokens per 2000 ms: 0.05 token/ms.
    let r = tb(&mut c, &[&k, "100", "100", "2000", "COST", "100"]);
    let emptied = Instant::now();
    assert_eq!(r, [0, 100, 0, -1, 2000]);
    // Measure (not wait for a state): about half a period later about half is back.
    std::thread::sleep(Duration::from_millis(1000));
    let before = emptied.elapsed().as_millis() as i64;
    let r = tb(&mut c, &[&k, "100", "100", "2000", "COST", "0"]);
    let after = emptied.elapsed().as_millis() as i64;
    // The server's elapsed time lies between `before - rtt` and `after`.
    let lo = (before - 100) * 100 / 2000 - 3;
    let hi = after * 100 / 2000 + 3;
    assert_eq!(r[..2], [0, 100], "{r:?}");
    assert!(
        r[2] >= lo && r[2] <= hi,
        "after ~{before} ms of a 100/2000ms refill: remaining {} not in [{lo}, {hi}]",
        r[2]
    );
    assert!(r[2] > 20 && r[2] < 90, "no step refill: {r:?}");
    assert_eq!(r[3], -1);
    let reset_hi = 2000 - (before - 100) + 60;
    let reset_lo = 2000 - after - 60;
    assert!(
        r[4] >= reset_lo && r[4] <= reset_hi,
        "reset-after {} not in [{reset_lo}, {reset_hi}]",
        r[4]
    );
    // It never grows past capacity.
    let full = wait_until(Duration::from_secs(5), "bucket full again", || {
        let r = tb(&mut c, &[&k, "100", "100", "2000", "COST", "0"]);
        (r[2] == 100).then_some(r)
    });
    assert_eq!(full, [0, 100, 100, -1, 0]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        tb(&mut c, &[&k, "100", "100", "2000", "COST", "0"]),
        [0, 100, 100, -1, 0]
    );
}

#[test]
fn retry_after_is_honest() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("retry");
    // One token per second.
    let r = tb(&mut c, &[&k, "10", "10", "10000", "COST", "10"]);
    assert_eq!(r, [0, 10, 0, -1, 10000]);
    let r = tb(&mut c, &[&k, "10", "10", "10000"]);
    let refused = Instant::now();
    assert_eq!(r[..3], [1, 10, 0], "{r:?}");
    assert!(r[3] > 800 && r[3] <= 1000, "retry-after for one token at 1/s: {r:?}");
    assert!(r[4] > 9_500 && r[4] <= 10_000, "reset-after: {r:?}");
    let retry = r[3];
    let allowed = wait_until(Duration::from_secs(5), "a token to come back", || {
        let r = tb(&mut c, &[&k, "10", "10", "10000"]);
        (r[0] == 0).then_some(r)
    });
    let waited = refused.elapsed().as_millis() as i64;
    assert_eq!(allowed[..4], [0, 10, 0, -1], "{allowed:?}");
    assert!(
        waited >= retry - 100 && waited <= retry + 400,
        "allowed after {waited} ms, retry-after said {retry}"
    );
}

#[test]
fn parameters_may_change_and_level_is_clamped() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("clamp");
    assert_eq!(
        tb(&mut c, &[&k, "10", "1", "1000000", "COST", "2"])[..4],
        [0, 10, 8, -1]
    );
    // Capacity lowered to 5: the level (8) is clamped to 5, then one is taken.
    assert_eq!(tb(&mut c, &[&k, "5", "1", "1000000"])[..4], [0, 5, 4, -1]);
    // Raised again: the level stays where it was, it is not refilled.
    assert_eq!(
        tb(&mut c, &[&k, "10", "1", "1000000", "COST", "0"])[..4],
        [0, 10, 4, -1]
    );
    // A faster refill applies from now on.
    let r = tb(&mut c, &[&k, "10", "1000", "1000", "COST", "0"]);
    assert_eq!(r[..2], [0, 10]);
    wait_until(Duration::from_secs(3), "fast refill to full", || {
        (tb(&mut c, &[&k, "10", "1000", "1000", "COST", "0"])[2] == 10).then_some(())
    });
}

#[test]
fn bucket_through_the_redis_crate() {
    let s = TestServer::start();
    for client in [s.redis_client(), s.redis_client3()] {
        let mut con = client.get_connection().expect("connect");
        let k = uniq("tbrc");
        let v: Vec<i64> = redis::cmd("TOKENBUCKET")
            .arg(&k)
            .arg(3)
            .arg(3)
            .arg(60_000)
            .query(&mut con)
            .expect("tb");
        assert_eq!(v, vec![0, 3, 2, -1, 20_000]);
        let v: Vec<i64> = redis::cmd("TOKENBUCKET")
            .arg(&k)
            .arg(3)
            .arg(3)
            .arg(60_000)
            .arg("COST")
            .arg(2)
            .query(&mut con)
            .expect("tb");
        assert_eq!(v[..4], [0, 3, 0, -1]);
        let v: Vec<i64> = redis::cmd("TOKENBUCKET")
            .arg(&k)
            .arg(3)
            .arg(3)
            .arg(60_000)
            .query(&mut con)
            .expect("tb");
        assert_eq!(v[..3], [1, 3, 0]);
        assert!(v[3] > 0 && v[3] <= 20_000);
    }
}

#[test]
fn bad_arguments_are_err_and_keep_the_connection() {
    let s = TestServer::start();
    let mut c = s.conn();
    let cases: &[&[&str]] = &[
        &["TOKENBUCKET"],
        &["TOKENBUCKET", "k"],
        &["TOKENBUCKET", "k", "10", "1"],
        &["TOKENBUCKET", "k", "ten", "1", "1000"],
        &["TOKENBUCKET", "k", "10", "x", "1000"],
        &["TOKENBUCKET", "k", "10", "1", "y"],
        &["TOKENBUCKET", "k", "-10", "1", "1000"],
        &["TOKENBUCKET", "k", "10", "1", "1000", "COST"],
        &["TOKENBUCKET", "k", "10", "1", "1000", "COST", "-1"],
        &["TOKENBUCKET", "k", "10", "1", "1000", "COST", "z"],
        &["TOKENBUCKET", "k", "10", "1", "1000", "PRICE", "1"],
        &["TOKENBUCKET", "k", "10", "1", "1000", "COST", "1", "extra"],
        &["TOKENBUCKET", "k", "10", "1", "0"],
        &["TOKENBUCKET", "k", "10", "1", "99999999999999999999999"],
    ];
    for args in cases {
        let r = c.cmd(args);
        assert!(r.is_err_with("ERR "), "{args:?} -> {r:?}, want -ERR");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connection unusable after {args:?}");
    }
}
