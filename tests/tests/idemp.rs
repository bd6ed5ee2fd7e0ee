//! IDEMP: idempotency keys (SPEC.md "IDEMP").

use std::time::{Duration, Instant};

use fencepost_tests::*;

/// The state word and the second element of a BEGIN/GET reply, checked to be exactly
/// a 2-element array whose first element is a bulk string.
fn state(r: &Reply) -> (String, Reply) {
    match r {
        Reply::Array(v) if v.len() == 2 && matches!(v[0], Reply::Bulk(_)) => (v[0].text(), v[1].clone()),
        other => panic!("want [\"state\", x], got {other:?}"),
    }
}

fn begin(c: &mut Conn, key: &str, fp: &str, ttl: &str, lease: Option<&str>) -> (String, Reply) {
    let mut args = vec!["IDEMP", "BEGIN", key, fp, ttl];
    if let Some(l) = lease {
        args.extend_from_slice(&["LEASE", l]);
    }
    let r = c.cmd(&args);
    state(&r)
}

fn started(c: &mut Conn, key: &str, fp: &str, ttl: &str, lease: Option<&str>) -> i64 {
    match begin(c, key, fp, ttl, lease) {
        (s, Reply::Int(t)) if s == "started" => t,
        other => panic!("IDEMP BEGIN {key} -> {other:?}, want started"),
    }
}

#[test]
fn begin_started_pending_mismatch_complete_done() {
    let s = TestServer::start();
    let k = uniq("ik");
    let out = s.cli(&["IDEMP", "BEGIN", &k, "fp1", "60000"]);
    let l = cli_lines(&out);
    assert_eq!(l.len(), 2, "{out:?}");
    assert_eq!(l[0], "1) \"started\"", "{out:?}");
    let t = cli_int(l[1]);
    assert!(t > 0);
    assert_eq!(l[1], format!("2) (integer) {t}"));
    // In flight: pending with a retry-after within the default 30 s lease.
    let out = s.cli(&["IDEMP", "BEGIN", &k, "fp1", "60000"]);
    let l = cli_lines(&out);
    assert_eq!(l.len(), 2, "{out:?}");
    assert_eq!(l[0], "1) \"pending\"", "{out:?}");
    let ra = cli_int(l[1]);
    assert!(
        ra > 25_000 && ra <= 30_000,
        "pending retry-after {ra} (default lease 30000)"
    );
    let mut c = s.conn();
    let (st, v) = begin(&mut c, &k, "fp1", "60000", None);
    assert_eq!(st, "pending");
    assert!(v.int() > 0 && v.int() <= 30_000);
    // Another fingerprint: MISMATCH.
    let out = s.cli(&["IDEMP", "BEGIN", &k, "fp2", "60000"]);
    assert!(out.starts_with("(error) MISMATCH"), "{out:?}");
    let r = c.cmd(&["IDEMP", "BEGIN", &k, "fp2", "60000"]);
    assert!(r.is_err_with("MISMATCH"), "{r:?}");
    // GET while pending.
    let (st, v) = state(&c.cmd(&["IDEMP", "GET", &k]));
    assert_eq!(st, "pending");
    assert!(v.int() > 0 && v.int() <= 30_000);
    // COMPLETE, then BEGIN replays the stored response.
    assert_eq!(s.cli(&["IDEMP", "COMPLETE", &k, &t.to_string(), "201 created"]), "OK\n");
    assert_eq!(
        s.cli(&["IDEMP", "BEGIN", &k, "fp1", "60000"]),
        "1) \"done\"\n2) \"201 created\"\n"
    );
    assert_eq!(
        s.cli3(&["IDEMP", "BEGIN", &k, "fp1", "60000"]),
        "1) \"done\"\n2) \"201 created\"\n"
    );
    assert_eq!(s.cli(&["IDEMP", "GET", &k]), "1) \"done\"\n2) \"201 created\"\n");
    assert_eq!(
        c.cmd(&["IDEMP", "BEGIN", &k, "fp1", "60000"]),
        arr(vec![bulk("done"), bulk("201 created")])
    );
    let mut c3 = s.conn3();
    assert_eq!(
        c3.cmd(&["IDEMP", "GET", &k]),
        arr(vec![bulk("done"), bulk("201 created")])
    );
    // Still MISMATCH for another fingerprint once done.
    let r = c3.cmd(&["IDEMP", "BEGIN", &k, "fp2", "60000"]);
    assert!(r.is_err_with("MISMATCH"), "{r:?}");
    // GET of an unknown key: nil.
    assert_eq!(s.cli(&["IDEMP", "GET", &uniq("none")]), "(nil)\n");
    assert_eq!(s.cli3(&["IDEMP", "GET", &uniq("none")]), "(nil)\n");
}

#[test]
fn abort_lets_a_retry_start_again() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("abort");
    let t1 = started(&mut c, &k, "fp", "60000", None);
    assert_eq!(s.cli(&["IDEMP", "ABORT", &k, &t1.to_string()]), "OK\n");
    assert_eq!(c.cmd(&["IDEMP", "GET", &k]), Reply::Nil);
    let t2 = started(&mut c, &k, "fp", "60000", None);
    assert!(t2 > t1, "new claim's token {t2} <= {t1}");
    // The aborted claim's token can no longer complete.
    let r = c.cmd(&["IDEMP", "COMPLETE", &k, &t1.to_string(), "late"]);
    assert!(r.is_err_with("STALE"), "COMPLETE with the aborted token -> {r:?}");
    assert_eq!(c.cmd(&["IDEMP", "COMPLETE", &k, &t2.to_string(), "ok"]), Reply::ok());
    assert_eq!(c.cmd(&["IDEMP", "GET", &k]), arr(vec![bulk("done"), bulk("ok")]));
}

#[test]
fn expired_lease_is_taken_over_and_old_complete_is_stale() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("takeover");
    let t1 = started(&mut c, &k, "fp", "60000", Some("400"));
    let (st, v) = begin(&mut c, &k, "fp", "60000", Some("400"));
    assert_eq!(st, "pending");
    assert!(v.int() > 0 && v.int() <= 400, "retry-after {v:?} with LEASE 400");
    let began = Instant::now();
    let t2 = wait_until(
        Duration::from_secs(5),
        "take-over after the 400 ms lease",
        || match begin(&mut c, &k, "fp", "60000", Some("400")) {
            (s, Reply::Int(t)) if s == "started" => Some(t),
            (s, _) if s == "pending" => None,
            other => panic!("unexpected {other:?}"),
        },
    );
    assert!(
        began.elapsed() >= Duration::from_millis(250),
        "taken over too early: {:?}",
        began.elapsed()
    );
    assert!(t2 > t1, "take-over token {t2} <= {t1}");
    // The worker that lost its lease: STALE.
    let out = s.cli(&["IDEMP", "COMPLETE", &k, &t1.to_string(), "old"]);
    assert!(out.starts_with("(error) STALE"), "{out:?}");
    let r = c.cmd(&["IDEMP", "COMPLETE", &k, &t1.to_string(), "old"]);
    assert!(r.is_err_with("STALE"), "{r:?}");
    // The new one completes.
    assert_eq!(c.cmd(&["IDEMP", "COMPLETE", &k, &t2.to_string(), "new"]), Reply::ok());
    assert_eq!(
        c.cmd(&["IDEMP", "BEGIN", &k, "fp", "60000"]),
        arr(vec![bulk("done"), bulk("new")])
    );
    assert_eq!(c.cmd(&["IDEMP", "GET", &k]), arr(vec![bulk("done"), bulk("new")]));
    // A stale COMPLETE after the new one did not overwrite it.
    let r = c.cmd(&["IDEMP", "COMPLETE", &k, &t1.to_string(), "old"]);
    assert!(r.is_err_with("STALE"), "{r:?}");
    assert_eq!(c.cmd(&["IDEMP", "GET", &k]), arr(vec![bulk("done"), bulk("new")]));
}

#[test]
fn take_over_needs_the_same_fingerprint() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("to-fp");
    started(&mut c, &k, "fp", "60000", Some("200"));
    // Even after the lease ran out, another fingerprint is a mismatch.
    let began = Instant::now();
    wait_until(Duration::from_secs(5), "lease ran out", || {
        (began.elapsed() > Duration::from_millis(400)).then_some(())
    });
    let r = c.cmd(&["IDEMP", "BEGIN", &k, "other", "60000"]);
    assert!(r.is_err_with("MISMATCH"), "{r:?}");
}

#[test]
fn completed_result_expires_ttl_after_begin() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("ittl");
    let begun = Instant::now();
    let t = started(&mut c, &k, "fp", "1000", None);
    assert_eq!(c.cmd(&["IDEMP", "COMPLETE", &k, &t.to_string(), "r"]), Reply::ok());
    let first = c.cmd(&["IDEMP", "GET", &k]);
    if begun.elapsed() < Duration::from_millis(800) {
        assert_eq!(first, arr(vec![bulk("done"), bulk("r")]));
    }
    wait_until(
        Duration::from_secs(6),
        "completed key to expire 1000 ms after BEGIN",
        || (c.cmd(&["IDEMP", "GET", &k]) == Reply::Nil).then_some(()),
    );
    assert!(
        begun.elapsed() >= Duration::from_millis(900),
        "gone after {:?}",
        begun.elapsed()
    );
    // Expired: a new claim may start, with any fingerprint.
    let t2 = started(&mut c, &k, "another", "60000", None);
    assert!(t2 > t);
}

#[test]
fn tokens_share_the_lock_sequence() {
    let s = TestServer::start();
    let mut c = s.conn();
    let mut last = 0;
    for i in 0..6 {
        let t = if i % 2 == 0 {
            started(&mut c, &uniq("seq"), "fp", "60000", None)
        } else {
            c.cmd(&["LOCK", "ACQUIRE", &uniq("seq-lock"), "o", "60000"]).int()
        };
        assert!(t > last, "token {t} after {last}");
        last = t;
    }
}

#[test]
fn responses_are_binary_safe() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("ibin");
    let t = started(&mut c, &k, "fp", "60000", None);
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n\x00\xff{\"a\":1}";
    assert_eq!(
        c.cmd_bytes(&[b"IDEMP", b"COMPLETE", k.as_bytes(), t.to_string().as_bytes(), resp]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["IDEMP", "BEGIN", &k, "fp", "60000"]),
        arr(vec![bulk("done"), Reply::Bulk(resp.to_vec())])
    );
    // An empty response is a response.
    let k2 = uniq("iempty");
    let t2 = started(&mut c, &k2, "fp", "60000", None);
    assert_eq!(c.cmd(&["IDEMP", "COMPLETE", &k2, &t2.to_string(), ""]), Reply::ok());
    assert_eq!(c.cmd(&["IDEMP", "GET", &k2]), arr(vec![bulk("done"), bulk("")]));
    // Binary fingerprints compare byte-wise.
    let k3 = uniq("ifp");
    let r = c.cmd_bytes(&[b"IDEMP", b"BEGIN", k3.as_bytes(), b"f\x00p", b"60000"]);
    assert_eq!(state(&r).0, "started");
    let r = c.cmd_bytes(&[b"IDEMP", b"BEGIN", k3.as_bytes(), b"f\x00q", b"60000"]);
    assert!(r.is_err_with("MISMATCH"), "{r:?}");
}

#[test]
fn idemp_through_the_redis_crate() {
    let s = TestServer::start();
    for client in [s.redis_client(), s.redis_client3()] {
        let mut con = client.get_connection().expect("connect");
        let k = uniq("irc");
        let (st, t): (String, i64) = redis::cmd("IDEMP")
            .arg("BEGIN")
            .arg(&k)
            .arg("fp")
            .arg(60_000)
            .query(&mut con)
            .expect("begin");
        assert_eq!(st, "started");
        let (st, ra): (String, i64) = redis::cmd("IDEMP")
            .arg("BEGIN")
            .arg(&k)
            .arg("fp")
            .arg(60_000)
            .query(&mut con)
            .expect("begin");
        assert_eq!(st, "pending");
        assert!(ra > 0);
        let e = redis::cmd("IDEMP")
            .arg("BEGIN")
            .arg(&k)
            .arg("zz")
            .arg(60_000)
            .query::<redis::Value>(&mut con)
            .expect_err("mismatch");
        assert_eq!(e.code(), Some("MISMATCH"), "{e:?}");
        let ok: String = redis::cmd("IDEMP")
            .arg("COMPLETE")
            .arg(&k)
            .arg(t)
            .arg("resp")
            .query(&mut con)
            .expect("complete");
        assert_eq!(ok, "OK");
        let (st, resp): (String, String) = redis::cmd("IDEMP").arg("GET").arg(&k).query(&mut con).expect("get");
        assert_eq!((st.as_str(), resp.as_str()), ("done", "resp"));
        let none: Option<(String, String)> = redis::cmd("IDEMP")
            .arg("GET")
            .arg(uniq("none"))
            .query(&mut con)
            .expect("get");
        assert_eq!(none, None);
    }
}

#[test]
fn bad_arguments_are_err_and_keep_the_connection() {
    let s = TestServer::start();
    let mut c = s.conn();
    let cases: &[&[&str]] = &[
        &["IDEMP"],
        &["IDEMP", "BOGUS", "k"],
        &["IDEMP", "BEGIN", "k", "fp"],
        &["IDEMP", "BEGIN", "k", "fp", "soon"],
        &["IDEMP", "BEGIN", "k", "fp", "-1"],
        &["IDEMP", "BEGIN", "k", "fp", "1000", "LEASE"],
        &["IDEMP", "BEGIN", "k", "fp", "1000", "LEASE", "x"],
        &["IDEMP", "BEGIN", "k", "fp", "1000", "LEASH", "10"],
        &["IDEMP", "COMPLETE", "k", "1"],
        &["IDEMP", "COMPLETE", "k", "tok", "resp"],
        &["IDEMP", "ABORT", "k"],
        &["IDEMP", "ABORT", "k", "tok"],
        &["IDEMP", "GET"],
        &["IDEMP", "GET", "k", "extra"],
    ];
    for args in cases {
        let r = c.cmd(args);
        assert!(r.is_err_with("ERR "), "{args:?} -> {r:?}, want -ERR");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connection unusable after {args:?}");
    }
    assert_eq!(c.cmd(&["IDEMP", "GET", "k"]), Reply::Nil);
}
