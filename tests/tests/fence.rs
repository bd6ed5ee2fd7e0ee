//! FENCE: the gate that makes a stale holder harmless (SPEC.md "FENCE").

use fencepost_tests::*;

fn acquire(c: &mut Conn, name: &str, owner: &str) -> i64 {
    match c.cmd(&["LOCK", "ACQUIRE", name, owner, "60000"]) {
        Reply::Int(t) => t,
        other => panic!("LOCK ACQUIRE {name} -> {other:?}"),
    }
}

#[test]
fn advance_accepts_equal_or_higher_and_refuses_older_with_stale() {
    let s = TestServer::start();
    let r = uniq("res");
    assert_eq!(s.cli(&["FENCE", "ADVANCE", &r, "5"]), "(integer) 5\n");
    assert_eq!(
        s.cli(&["FENCE", "ADVANCE", &r, "3"]),
        format!("(error) STALE {r} token 3 < 5\n")
    );
    assert_eq!(
        s.cli3(&["FENCE", "ADVANCE", &r, "4"]),
        format!("(error) STALE {r} token 4 < 5\n")
    );
    // Equal tokens are accepted (one holder may write many times).
    assert_eq!(s.cli(&["FENCE", "ADVANCE", &r, "5"]), "(integer) 5\n");
    assert_eq!(s.cli3(&["FENCE", "ADVANCE", &r, "5"]), "(integer) 5\n");
    assert_eq!(s.cli(&["FENCE", "ADVANCE", &r, "9"]), "(integer) 9\n");
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["FENCE", "ADVANCE", &r, "8"]),
        err(&format!("STALE {r} token 8 < 9"))
    );
    assert_eq!(
        c.cmd(&["FENCE", "ADVANCE", &r, "1"]),
        err(&format!("STALE {r} token 1 < 9"))
    );
    assert_eq!(c.cmd(&["FENCE", "ADVANCE", &r, "9"]), int(9));
    assert_eq!(c.cmd(&["FENCE", "ADVANCE", &r, "1000000"]), int(1_000_000));
    // ADVANCE records no value: GET shows [highest, nil].
    assert_eq!(s.cli(&["FENCE", "GET", &r]), "1) (integer) 1000000\n2) (nil)\n");
    assert_eq!(c.cmd(&["FENCE", "GET", &r]), arr(vec![int(1_000_000), Reply::Nil]));
    // A refused ADVANCE does not lower or change anything.
    assert_eq!(
        c.cmd(&["FENCE", "ADVANCE", &r, "2"]),
        err(&format!("STALE {r} token 2 < 1000000"))
    );
    assert_eq!(c.cmd(&["FENCE", "GET", &r]), arr(vec![int(1_000_000), Reply::Nil]));
}

#[test]
fn set_and_get() {
    let s = TestServer::start();
    let k = uniq("fk");
    assert_eq!(s.cli(&["FENCE", "GET", &k]), "(nil)\n");
    assert_eq!(s.cli3(&["FENCE", "GET", &k]), "(nil)\n");
    assert_eq!(s.cli(&["FENCE", "SET", &k, "5", "v1"]), "OK\n");
    assert_eq!(s.cli(&["FENCE", "GET", &k]), "1) (integer) 5\n2) \"v1\"\n");
    assert_eq!(s.cli3(&["FENCE", "GET", &k]), "1) (integer) 5\n2) \"v1\"\n");
    // Equal token: accepted, value replaced.
    assert_eq!(s.cli3(&["FENCE", "SET", &k, "5", "v2"]), "OK\n");
    assert_eq!(s.cli(&["FENCE", "GET", &k]), "1) (integer) 5\n2) \"v2\"\n");
    // Older token: STALE, value kept.
    assert_eq!(
        s.cli(&["FENCE", "SET", &k, "4", "v3"]),
        format!("(error) STALE {k} token 4 < 5\n")
    );
    assert_eq!(s.cli(&["FENCE", "GET", &k]), "1) (integer) 5\n2) \"v2\"\n");
    // Higher token: accepted.
    let mut c = s.conn();
    assert_eq!(c.cmd(&["FENCE", "SET", &k, "12", "v4"]), Reply::ok());
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(12), bulk("v4")]));
    let mut c3 = s.conn3();
    assert_eq!(c3.cmd(&["FENCE", "GET", &k]), arr(vec![int(12), bulk("v4")]));
    assert_eq!(
        c3.cmd(&["FENCE", "SET", &k, "11", "v5"]),
        err(&format!("STALE {k} token 11 < 12"))
    );
    // SET and ADVANCE share the fence: ADVANCE raises the bar for SET, keeps the value.
    assert_eq!(c.cmd(&["FENCE", "ADVANCE", &k, "20"]), int(20));
    assert_eq!(
        c.cmd(&["FENCE", "SET", &k, "19", "v6"]),
        err(&format!("STALE {k} token 19 < 20"))
    );
    let g = c.cmd(&["FENCE", "GET", &k]);
    assert_eq!(g.items()[0], int(20), "{g:?}");
    assert_eq!(
        c.cmd(&["FENCE", "ADVANCE", &k, "19"]),
        err(&format!("STALE {k} token 19 < 20"))
    );
    assert_eq!(c.cmd(&["FENCE", "SET", &k, "20", "v7"]), Reply::ok());
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(20), bulk("v7")]));
}

#[test]
fn values_are_binary_safe_and_size_limited() {
    let s = TestServer::start();
    let mut c = s.conn();
    let k = uniq("fbin");
    let v: &[u8] = b"\x00\r\n$5\r\nhello\xff";
    assert_eq!(c.cmd_bytes(&[b"FENCE", b"SET", k.as_bytes(), b"3", v]), Reply::ok());
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(3), Reply::Bulk(v.to_vec())]));
    // Empty value is a value, not nil.
    assert_eq!(c.cmd(&["FENCE", "SET", &k, "3", ""]), Reply::ok());
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(3), bulk("")]));
    // 1 MiB is the default maximum value size.
    let big = vec![b'x'; 1 << 20];
    assert_eq!(c.cmd_bytes(&[b"FENCE", b"SET", k.as_bytes(), b"4", &big]), Reply::ok());
    assert_eq!(
        c.cmd(&["FENCE", "GET", &k]),
        arr(vec![int(4), Reply::Bulk(big.clone())])
    );
    let too_big = vec![b'y'; (1 << 20) + 1];
    let r = c.cmd_bytes(&[b"FENCE", b"SET", k.as_bytes(), b"5", &too_big]);
    assert!(r.is_err_with("ERR "), "1 MiB + 1 value -> {r:?}");
    // The refused value changed nothing (and the server is alive).
    let mut c2 = s.conn();
    assert_eq!(c2.cmd(&["FENCE", "GET", &k]), arr(vec![int(4), Reply::Bulk(big)]));
}

#[test]
fn lock_option_requires_the_current_holder() {
    let s = TestServer::start();
    let mut c = s.conn();
    let l = uniq("flock");
    let k = uniq("fkey");
    let r = uniq("fres");
    let t = acquire(&mut c, &l, "alice");
    let ts = t.to_string();
    // The holder's token passes.
    assert_eq!(s.cli(&["FENCE", "SET", &k, &ts, "a1", "LOCK", &l]), "OK\n");
    assert_eq!(
        s.cli(&["FENCE", "ADVANCE", &r, &ts, "LOCK", &l]),
        format!("(integer) {t}\n")
    );
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(t), bulk("a1")]));
    // A higher token that is not the holder's: STALE ... not the holder.
    let hi = (t + 1000).to_string();
    let out = s.cli(&["FENCE", "SET", &k, &hi, "x", "LOCK", &l]);
    assert!(
        out.starts_with("(error) STALE ") && out.ends_with("not the holder\n"),
        "{out:?}"
    );
    let rep = c.cmd(&["FENCE", "ADVANCE", &r, &hi, "LOCK", &l]);
    assert!(
        rep.is_err_with("STALE ") && rep.err_text().is_some_and(|e| e.ends_with("not the holder")),
        "{rep:?}"
    );
    // Nothing was recorded by the refused writes.
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(t), bulk("a1")]));
    assert_eq!(c.cmd(&["FENCE", "GET", &r]), arr(vec![int(t), Reply::Nil]));

    // Once the lock passes to bob, alice's token is refused even though it equals the
    // fence's highest token.
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &l, "alice", &ts]), int(1));
    let out = s.cli3(&["FENCE", "SET", &k, &ts, "late", "LOCK", &l]);
    assert!(
        out.starts_with("(error) STALE ") && out.ends_with("not the holder\n"),
        "free lock: {out:?}"
    );
    let tb = acquire(&mut c, &l, "bob");
    let out = s.cli(&["FENCE", "SET", &k, &ts, "late", "LOCK", &l]);
    assert!(
        out.starts_with("(error) STALE ") && out.ends_with("not the holder\n"),
        "{out:?}"
    );
    assert_eq!(
        c.cmd(&["FENCE", "SET", &k, &tb.to_string(), "b1", "LOCK", &l]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(tb), bulk("b1")]));
    // Without LOCK, only the token order matters: alice's older token is STALE by order.
    assert_eq!(
        c.cmd(&["FENCE", "SET", &k, &ts, "late"]),
        err(&format!("STALE {k} token {t} < {tb}"))
    );
    // A lock that never existed: not the holder.
    let rep = c.cmd(&[
        "FENCE",
        "ADVANCE",
        &uniq("fr2"),
        &tb.to_string(),
        "LOCK",
        &uniq("nolock"),
    ]);
    assert!(
        rep.is_err_with("STALE ") && rep.err_text().is_some_and(|e| e.ends_with("not the holder")),
        "{rep:?}"
    );
}

#[test]
fn stale_holder_story_through_the_lock() {
    // The canonical scenario: alice's lease expires while she is paused, bob takes the
    // lock and writes; alice wakes up and her write is refused.
    let s = TestServer::start();
    let mut c = s.conn();
    let l = uniq("story");
    let k = uniq("storage");
    let ta = match c.cmd(&["LOCK", "ACQUIRE", &l, "alice", "300"]) {
        Reply::Int(t) => t,
        o => panic!("{o:?}"),
    };
    assert_eq!(c.cmd(&["FENCE", "SET", &k, &ta.to_string(), "alice-1"]), Reply::ok());
    let tb = wait_until(
        std::time::Duration::from_secs(5),
        "bob acquires after alice's lease",
        || match c.cmd(&["LOCK", "ACQUIRE", &l, "bob", "10000"]) {
            Reply::Int(t) => Some(t),
            _ => None,
        },
    );
    assert!(tb > ta);
    assert_eq!(c.cmd(&["FENCE", "SET", &k, &tb.to_string(), "bob-1"]), Reply::ok());
    assert_eq!(
        c.cmd(&["FENCE", "SET", &k, &ta.to_string(), "alice-2"]),
        err(&format!("STALE {k} token {ta} < {tb}"))
    );
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(tb), bulk("bob-1")]));
}

#[test]
fn fence_through_the_redis_crate() {
    let s = TestServer::start();
    for client in [s.redis_client(), s.redis_client3()] {
        let mut con = client.get_connection().expect("connect");
        let k = uniq("frc");
        let ok: String = redis::cmd("FENCE")
            .arg("SET")
            .arg(&k)
            .arg(7)
            .arg("val")
            .query(&mut con)
            .expect("set");
        assert_eq!(ok, "OK");
        let g: (i64, Option<String>) = redis::cmd("FENCE").arg("GET").arg(&k).query(&mut con).expect("get");
        assert_eq!(g, (7, Some("val".to_string())));
        let e = redis::cmd("FENCE")
            .arg("ADVANCE")
            .arg(&k)
            .arg(6)
            .query::<i64>(&mut con)
            .expect_err("stale");
        assert_eq!(e.code(), Some("STALE"), "{e:?}");
        assert_eq!(e.detail(), Some(format!("{k} token 6 < 7").as_str()), "{e:?}");
        let a: i64 = redis::cmd("FENCE")
            .arg("ADVANCE")
            .arg(&k)
            .arg(8)
            .query(&mut con)
            .expect("advance");
        assert_eq!(a, 8);
        let missing: Option<(i64, Option<String>)> = redis::cmd("FENCE")
            .arg("GET")
            .arg(uniq("none"))
            .query(&mut con)
            .expect("get");
        assert_eq!(missing, None);
    }
}

#[test]
fn wrongtype_between_locks_and_fences() {
    let s = TestServer::start();
    let mut c = s.conn();
    let l = uniq("wt-lock");
    let t = match c.cmd(&["LOCK", "ACQUIRE", &l, "alice", "60000"]) {
        Reply::Int(t) => t,
        o => panic!("{o:?}"),
    };
    let ts = t.to_string();
    for args in [
        vec!["FENCE", "ADVANCE", l.as_str(), ts.as_str()],
        vec!["FENCE", "SET", l.as_str(), ts.as_str(), "v"],
        vec!["FENCE", "GET", l.as_str()],
    ] {
        let r = c.cmd(&args);
        assert!(r.is_err_with("WRONGTYPE"), "{args:?} on a lock name -> {r:?}");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    }
    let out = s.cli(&["FENCE", "ADVANCE", &l, &ts]);
    assert!(out.starts_with("(error) WRONGTYPE"), "{out:?}");
    // And the other way round: a fence key is not a lock.
    let f = uniq("wt-fence");
    assert_eq!(c.cmd(&["FENCE", "ADVANCE", &f, "3"]), int(3));
    for args in [
        vec!["LOCK", "ACQUIRE", f.as_str(), "o", "1000"],
        vec!["LOCK", "INFO", f.as_str()],
    ] {
        let r = c.cmd(&args);
        assert!(r.is_err_with("WRONGTYPE"), "{args:?} on a fence key -> {r:?}");
    }
    // The lock was not disturbed.
    let info = c.cmd(&["LOCK", "INFO", &l]);
    assert_eq!(info.field("token"), Some(int(t)), "{info:?}");
}

#[test]
fn bad_arguments_are_err_and_keep_the_connection() {
    let s = TestServer::start();
    let mut c = s.conn();
    let cases: &[&[&str]] = &[
        &["FENCE"],
        &["FENCE", "BOGUS", "k"],
        &["FENCE", "ADVANCE", "k"],
        &["FENCE", "ADVANCE", "k", "abc"],
        &["FENCE", "ADVANCE", "k", "-1"],
        &["FENCE", "ADVANCE", "k", "99999999999999999999999"],
        &["FENCE", "ADVANCE", "k", "1", "LOCK"],
        &["FENCE", "ADVANCE", "k", "1", "NOTLOCK", "l"],
        &["FENCE", "SET", "k", "1"],
        &["FENCE", "SET", "k", "x", "v"],
        &["FENCE", "SET", "k", "1", "v", "LOCK"],
        &["FENCE", "SET", "k", "1", "v", "LOCK", "l", "extra"],
        &["FENCE", "GET"],
        &["FENCE", "GET", "k", "k2"],
    ];
    for args in cases {
        let r = c.cmd(args);
        assert!(r.is_err_with("ERR "), "{args:?} -> {r:?}, want -ERR");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connection unusable after {args:?}");
    }
    assert_eq!(c.cmd(&["FENCE", "GET", "k"]), Reply::Nil);
}
