//! LOCK: leases with fencing tokens (SPEC.md "LOCK"), through redis-cli (exact output,
//! RESP2 and RESP3), a raw RESP client and the `redis` crate.

use std::time::{Duration, Instant};

use fencepost_tests::*;

fn acquire_cli(s: &TestServer, name: &str, owner: &str, ttl: u64) -> i64 {
    let out = s.cli(&["LOCK", "ACQUIRE", name, owner, &ttl.to_string()]);
    assert!(out.starts_with("(integer) "), "LOCK ACQUIRE {name} {owner} -> {out:?}");
    let t = cli_int(&out);
    assert_eq!(out, format!("(integer) {t}\n"));
    t
}

fn acquire(c: &mut Conn, name: &str, owner: &str, ttl: u64) -> i64 {
    let r = c.cmd(&["LOCK", "ACQUIRE", name, owner, &ttl.to_string()]);
    match r {
        Reply::Int(t) => t,
        other => panic!("LOCK ACQUIRE {name} {owner} {ttl} -> {other:?}, want a token"),
    }
}

/// (owner, token, ttl-ms, waiters) from LOCK INFO, checking the reply's exact shape.
fn info(c: &mut Conn, name: &str) -> Option<(String, i64, i64, i64)> {
    let r = c.cmd(&["LOCK", "INFO", name]);
    if r == Reply::Nil {
        return None;
    }
    let p = r.pairs();
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["owner", "token", "ttl-ms", "waiters"],
        "LOCK INFO {name} -> {r:?}"
    );
    Some((p[0].1.text(), p[1].1.int(), p[2].1.int(), p[3].1.int()))
}

fn waiters(c: &mut Conn, name: &str) -> i64 {
    info(c, name).map(|i| i.3).unwrap_or(0)
}

#[test]
fn acquire_grants_positive_token_same_owner_reacquire_is_idempotent() {
    let s = TestServer::start();
    let name = uniq("lk");
    let t = acquire_cli(&s, &name, "alice", 10_000);
    assert!(t > 0, "token must be positive, got {t}");
    // Same owner: same token (RESP2 and RESP3).
    assert_eq!(
        s.cli(&["LOCK", "ACQUIRE", &name, "alice", "10000"]),
        format!("(integer) {t}\n")
    );
    assert_eq!(
        s.cli3(&["LOCK", "ACQUIRE", &name, "alice", "10000"]),
        format!("(integer) {t}\n")
    );
    let mut c = s.conn();
    assert_eq!(c.cmd(&["LOCK", "ACQUIRE", &name, "alice", "10000"]), int(t));
    // Another owner: nil, in both protocols.
    assert_eq!(s.cli(&["LOCK", "ACQUIRE", &name, "bob", "10000"]), "(nil)\n");
    assert_eq!(s.cli3(&["LOCK", "ACQUIRE", &name, "bob", "10000"]), "(nil)\n");
    assert_eq!(c.cmd(&["LOCK", "ACQUIRE", &name, "bob", "10000"]), Reply::Nil);
    let mut c3 = s.conn3();
    assert_eq!(c3.cmd(&["LOCK", "ACQUIRE", &name, "bob", "10000"]), Reply::Nil);
    assert_eq!(c3.cmd(&["LOCK", "ACQUIRE", &name, "alice", "10000"]), int(t));
    // The holder did not change.
    assert_eq!(info(&mut c, &name).map(|i| (i.0, i.1)), Some(("alice".to_string(), t)));
}

#[test]
fn tokens_strictly_increase_across_names() {
    let s = TestServer::start();
    let mut c = s.conn();
    let mut last = 0;
    for i in 0..20 {
        let name = format!("{}-{i}", uniq("inc"));
        let t = if i % 2 == 0 {
            acquire(&mut c, &name, "o", 10_000)
        } else {
            acquire_cli(&s, &name, "o", 10_000)
        };
        assert!(t > last, "token {t} for {name} not greater than previous {last}");
        last = t;
    }
    // A re-grant of a released lock also gets a new, higher token.
    let name = uniq("regrant");
    let t1 = acquire(&mut c, &name, "a", 10_000);
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "a", &t1.to_string()]), int(1));
    let t2 = acquire(&mut c, &name, "a", 10_000);
    assert!(t2 > t1, "re-grant after release: {t2} <= {t1}");
}

#[test]
fn reacquire_by_same_owner_resets_ttl() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("ttl");
    let t = acquire(&mut c, &name, "alice", 60_000);
    let (_, _, ttl, _) = info(&mut c, &name).expect("held");
    assert!(ttl > 55_000 && ttl <= 60_000, "ttl-ms {ttl} after ACQUIRE 60000");
    // Reset downwards.
    assert_eq!(c.cmd(&["LOCK", "ACQUIRE", &name, "alice", "5000"]), int(t));
    let (_, tok, ttl, _) = info(&mut c, &name).expect("held");
    assert_eq!(tok, t);
    assert!(ttl > 3_000 && ttl <= 5_000, "ttl-ms {ttl} after re-ACQUIRE 5000");
    // Reset upwards.
    assert_eq!(
        s.cli(&["LOCK", "ACQUIRE", &name, "alice", "120000"]),
        format!("(integer) {t}\n")
    );
    let (_, _, ttl, _) = info(&mut c, &name).expect("held");
    assert!(ttl > 115_000 && ttl <= 120_000, "ttl-ms {ttl} after re-ACQUIRE 120000");
    // A short lease that is renewed by re-acquiring does not expire.
    let name2 = uniq("renew");
    let t2 = acquire(&mut c, &name2, "alice", 1_000);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2_500) {
        assert_eq!(c.cmd(&["LOCK", "ACQUIRE", &name2, "alice", "1000"]), int(t2));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(info(&mut c, &name2).map(|i| i.1), Some(t2));
}

#[test]
fn release_semantics() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("rel");
    let t = acquire(&mut c, &name, "alice", 10_000);
    let ts = t.to_string();
    // Wrong owner, wrong token: :0, lock still held.
    assert_eq!(s.cli(&["LOCK", "RELEASE", &name, "bob", &ts]), "(integer) 0\n");
    assert_eq!(
        s.cli(&["LOCK", "RELEASE", &name, "alice", &(t + 1).to_string()]),
        "(integer) 0\n"
    );
    assert_eq!(
        c.cmd(&["LOCK", "RELEASE", &name, "alice", &(t - 1).to_string()]),
        int(0)
    );
    assert_eq!(info(&mut c, &name).map(|i| (i.0, i.1)), Some(("alice".to_string(), t)));
    // Right owner and token: :1, then free.
    assert_eq!(s.cli(&["LOCK", "RELEASE", &name, "alice", &ts]), "(integer) 1\n");
    assert_eq!(info(&mut c, &name), None);
    assert_eq!(s.cli(&["LOCK", "INFO", &name]), "(nil)\n");
    assert_eq!(s.cli3(&["LOCK", "INFO", &name]), "(nil)\n");
    // Releasing again, or releasing a lock that never existed: :0.
    assert_eq!(s.cli(&["LOCK", "RELEASE", &name, "alice", &ts]), "(integer) 0\n");
    assert_eq!(
        s.cli3(&["LOCK", "RELEASE", &uniq("never"), "alice", "1"]),
        "(integer) 0\n"
    );
    // Another owner can now take it, with a higher token.
    let t2 = acquire(&mut c, &name, "bob", 10_000);
    assert!(t2 > t);
    // The old holder's release does not free bob's lock.
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ts]), int(0));
    assert_eq!(info(&mut c, &name).map(|i| (i.0, i.1)), Some(("bob".to_string(), t2)));
}

#[test]
fn extend_semantics() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("ext");
    let t = acquire(&mut c, &name, "alice", 2_000);
    let ts = t.to_string();
    assert_eq!(
        s.cli(&["LOCK", "EXTEND", &name, "alice", &ts, "60000"]),
        "(integer) 1\n"
    );
    let (o, tok, ttl, _) = info(&mut c, &name).expect("held");
    assert_eq!((o.as_str(), tok), ("alice", t));
    assert!(ttl > 55_000 && ttl <= 60_000, "ttl-ms {ttl} after EXTEND 60000");
    // EXTEND sets (not adds): shorter works too.
    assert_eq!(c.cmd(&["LOCK", "EXTEND", &name, "alice", &ts, "10000"]), int(1));
    let (_, _, ttl, _) = info(&mut c, &name).expect("held");
    assert!(ttl > 8_000 && ttl <= 10_000, "ttl-ms {ttl} after EXTEND 10000");
    // Wrong owner / wrong token: :0 and TTL unchanged (still <= 10000).
    assert_eq!(s.cli(&["LOCK", "EXTEND", &name, "bob", &ts, "60000"]), "(integer) 0\n");
    assert_eq!(
        s.cli3(&["LOCK", "EXTEND", &name, "alice", &(t + 1).to_string(), "60000"]),
        "(integer) 0\n"
    );
    let (_, _, ttl, _) = info(&mut c, &name).expect("held");
    assert!(ttl <= 10_000, "refused EXTEND changed ttl-ms to {ttl}");
    // Free lock: :0, and EXTEND does not create it.
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ts]), int(1));
    assert_eq!(c.cmd(&["LOCK", "EXTEND", &name, "alice", &ts, "60000"]), int(0));
    assert_eq!(info(&mut c, &name), None);
    // An expired lease cannot be extended.
    let name2 = uniq("ext-exp");
    let t2 = acquire(&mut c, &name2, "alice", 200);
    wait_until(Duration::from_secs(5), "lease of 200 ms to expire", || {
        info(&mut c, &name2).is_none().then_some(())
    });
    assert_eq!(
        c.cmd(&["LOCK", "EXTEND", &name2, "alice", &t2.to_string(), "60000"]),
        int(0)
    );
    assert_eq!(info(&mut c, &name2), None);
}

#[test]
fn info_nil_when_free_and_map_or_flat_array_when_held() {
    let s = TestServer::start();
    let name = uniq("info");
    assert_eq!(s.cli(&["LOCK", "INFO", &name]), "(nil)\n");
    assert_eq!(s.cli3(&["LOCK", "INFO", &name]), "(nil)\n");
    let t = acquire_cli(&s, &name, "alice", 30_000);

    // RESP2: flat array owner, token, ttl-ms, waiters.
    let out = s.cli(&["LOCK", "INFO", &name]);
    let l = cli_lines(&out);
    assert_eq!(l.len(), 8, "LOCK INFO (RESP2) -> {out:?}");
    assert_eq!(
        l[..5],
        [
            "1) \"owner\"",
            "2) \"alice\"",
            "3) \"token\"",
            &format!("4) (integer) {t}"),
            "5) \"ttl-ms\""
        ],
        "{out:?}"
    );
    assert!(l[5].starts_with("6) (integer) "), "{out:?}");
    let ttl = cli_int(l[5]);
    assert!(ttl > 25_000 && ttl <= 30_000, "ttl-ms {ttl}");
    assert_eq!(l[6..], ["7) \"waiters\"", "8) (integer) 0"], "{out:?}");

    // RESP3: a map.
    let out = s.cli3(&["LOCK", "INFO", &name]);
    let l = cli_lines(&out);
    assert_eq!(l.len(), 4, "LOCK INFO (RESP3) -> {out:?}");
    assert_eq!(l[0], "1# \"owner\" => \"alice\"", "{out:?}");
    assert_eq!(l[1], format!("2# \"token\" => (integer) {t}"), "{out:?}");
    assert!(l[2].starts_with("3# \"ttl-ms\" => (integer) "), "{out:?}");
    let ttl = cli_int(l[2]);
    assert!(ttl > 25_000 && ttl <= 30_000, "ttl-ms {ttl}");
    assert_eq!(l[3], "4# \"waiters\" => (integer) 0", "{out:?}");

    // Raw: the RESP3 reply is a real map type, the RESP2 one a flat array.
    let mut c3 = s.conn3();
    let r = c3.cmd(&["LOCK", "INFO", &name]);
    assert!(
        matches!(r, Reply::Map(ref m) if m.len() == 4),
        "RESP3 LOCK INFO -> {r:?}"
    );
    let mut c2 = s.conn();
    let r = c2.cmd(&["LOCK", "INFO", &name]);
    assert!(
        matches!(r, Reply::Array(ref v) if v.len() == 8),
        "RESP2 LOCK INFO -> {r:?}"
    );

    // waiters counts queued callers.
    let rx = spawn_cmd(&s, &["LOCK", "ACQUIRE", &name, "bob", "30000", "WAIT", "20000"]);
    wait_until(Duration::from_secs(5), "one waiter in LOCK INFO", || {
        (waiters(&mut c2, &name) == 1).then_some(())
    });
    let out = s.cli3(&["LOCK", "INFO", &name]);
    assert!(out.ends_with("4# \"waiters\" => (integer) 1\n"), "{out:?}");
    assert_eq!(c2.cmd(&["LOCK", "RELEASE", &name, "alice", &t.to_string()]), int(1));
    let (r, _) = rx.recv_timeout(Duration::from_secs(5)).expect("waiter granted");
    let tb = r.int();
    assert!(tb > t);
    assert_eq!(
        info(&mut c2, &name).map(|i| (i.0, i.1, i.3)),
        Some(("bob".to_string(), tb, 0))
    );
}

#[test]
fn lease_expires_after_ttl() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("exp");
    let start = Instant::now();
    let t = acquire(&mut c, &name, "alice", 500);
    // Held at first (unless the machine is very slow).
    let first = info(&mut c, &name);
    if start.elapsed() < Duration::from_millis(400) {
        assert_eq!(first.map(|i| (i.0, i.1)), Some(("alice".to_string(), t)));
    }
    wait_until(Duration::from_secs(5), "lease of 500 ms to expire", || {
        info(&mut c, &name).is_none().then_some(())
    });
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "lease of 500 ms gone after {:?}",
        start.elapsed()
    );
    assert_eq!(s.cli(&["LOCK", "INFO", &name]), "(nil)\n");
    // Expired: the old holder cannot release, another owner gets a higher token.
    assert_eq!(
        s.cli(&["LOCK", "RELEASE", &name, "alice", &t.to_string()]),
        "(integer) 0\n"
    );
    let t2 = acquire_cli(&s, &name, "bob", 10_000);
    assert!(t2 > t);
    // The expired owner re-acquiring is a new grant, not the old token.
    let name3 = uniq("exp-same");
    let t3 = acquire(&mut c, &name3, "alice", 200);
    wait_until(Duration::from_secs(5), "lease of 200 ms to expire", || {
        info(&mut c, &name3).is_none().then_some(())
    });
    let t4 = acquire(&mut c, &name3, "alice", 10_000);
    assert!(t4 > t3, "re-grant after expiry must have a new token: {t4} <= {t3}");
}

#[test]
fn wait_on_free_lock_is_granted_at_once() {
    let s = TestServer::start();
    let name = uniq("wfree");
    let start = Instant::now();
    let out = s.cli(&["LOCK", "ACQUIRE", &name, "alice", "10000", "WAIT", "5000"]);
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    let t = cli_int(&out);
    assert_eq!(out, format!("(integer) {t}\n"));
    // Holder re-acquiring with WAIT: same token, no waiting.
    let start = Instant::now();
    assert_eq!(
        s.cli(&["LOCK", "ACQUIRE", &name, "alice", "10000", "WAIT", "5000"]),
        format!("(integer) {t}\n")
    );
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[test]
fn waiter_is_granted_promptly_on_release() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("wrel");
    let ta = acquire(&mut c, &name, "alice", 60_000);
    let rx = spawn_cmd(&s, &["LOCK", "ACQUIRE", &name, "bob", "30000", "WAIT", "20000"]);
    wait_until(Duration::from_secs(5), "bob queued", || {
        (waiters(&mut c, &name) == 1).then_some(())
    });
    assert!(rx.try_recv().is_err(), "bob answered before the release");
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ta.to_string()]), int(1));
    let released = Instant::now();
    let (r, at) = rx.recv_timeout(Duration::from_secs(10)).expect("bob granted");
    let tb = r.int();
    assert!(tb > ta, "waiter's token {tb} <= previous {ta}");
    let lag = at.saturating_duration_since(released);
    assert!(lag < Duration::from_secs(1), "waiter granted {lag:?} after release");
    let (o, tok, ttl, w) = info(&mut c, &name).expect("held by bob");
    assert_eq!((o.as_str(), tok, w), ("bob", tb, 0));
    assert!(
        ttl > 25_000 && ttl <= 30_000,
        "bob's lease should run from the grant: ttl-ms {ttl}"
    );
    // The granted waiter really holds it.
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "bob", &tb.to_string()]), int(1));
}

#[test]
fn waiter_via_redis_cli_is_granted_on_release() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("wcli");
    let ta = acquire(&mut c, &name, "alice", 60_000);
    let port = s.port;
    let n2 = name.clone();
    let h = std::thread::spawn(move || {
        let mut cmd = std::process::Command::new("redis-cli");
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--no-raw",
            "LOCK",
            "ACQUIRE",
            &n2,
            "bob",
            "30000",
            "WAIT",
            "20000",
        ]);
        let out = run_with_timeout(cmd, Duration::from_secs(30));
        (String::from_utf8_lossy(&out.stdout).into_owned(), Instant::now())
    });
    wait_until(Duration::from_secs(5), "bob queued", || {
        (waiters(&mut c, &name) == 1).then_some(())
    });
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ta.to_string()]), int(1));
    let released = Instant::now();
    let (out, at) = h.join().expect("redis-cli thread");
    let tb = cli_int(&out);
    assert_eq!(out, format!("(integer) {tb}\n"));
    assert!(tb > ta);
    // redis-cli start-up is not part of the hand-off; allow it some slack.
    assert!(at.saturating_duration_since(released) < Duration::from_millis(1500));
}

#[test]
fn waiter_is_granted_when_holder_lease_expires() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("wexp");
    let ta = acquire(&mut c, &name, "alice", 1_000);
    let acquired = Instant::now();
    let rx = spawn_cmd(&s, &["LOCK", "ACQUIRE", &name, "bob", "30000", "WAIT", "20000"]);
    let (r, at) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("bob granted after alice's lease expired");
    let tb = r.int();
    assert!(tb > ta);
    let after = at.saturating_duration_since(acquired);
    assert!(
        after >= Duration::from_millis(800),
        "granted {after:?} after a 1000 ms lease was taken: too early"
    );
    assert!(
        after < Duration::from_millis(2_000),
        "granted {after:?} after a 1000 ms lease was taken: not prompt"
    );
    assert_eq!(info(&mut c, &name).map(|i| (i.0, i.1)), Some(("bob".to_string(), tb)));
    // alice's old token is worthless now.
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ta.to_string()]), int(0));
}

#[test]
fn three_waiters_are_served_in_fifo_order() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("fifo");
    let ta = acquire(&mut c, &name, "alice", 60_000);
    let mut rxs = Vec::new();
    for (i, who) in ["bob", "carol", "dave"].iter().enumerate() {
        rxs.push(spawn_cmd(
            &s,
            &["LOCK", "ACQUIRE", &name, who, "60000", "WAIT", "30000"],
        ));
        wait_until(Duration::from_secs(5), &format!("{who} queued"), || {
            (waiters(&mut c, &name) == i as i64 + 1).then_some(())
        });
    }
    let mut prev = ta;
    let mut holder = ("alice", ta);
    for (i, who) in ["bob", "carol", "dave"].iter().enumerate() {
        assert_eq!(
            c.cmd(&["LOCK", "RELEASE", &name, holder.0, &holder.1.to_string()]),
            int(1)
        );
        let (r, _) = rxs[i]
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{who} not granted"));
        let t = r.int();
        assert!(t > prev, "{who}'s token {t} <= {prev}");
        // Nobody behind in the queue was served out of turn.
        for later in &rxs[i + 1..] {
            assert!(
                later.recv_timeout(Duration::from_millis(150)).is_err(),
                "a later waiter was granted before {who} released"
            );
        }
        let (o, tok, _, w) = info(&mut c, &name).expect("held");
        assert_eq!((o.as_str(), tok, w), (*who, t, 2 - i as i64));
        prev = t;
        holder = (who, t);
    }
    assert_eq!(
        c.cmd(&["LOCK", "RELEASE", &name, holder.0, &holder.1.to_string()]),
        int(1)
    );
    assert_eq!(info(&mut c, &name), None);
}

#[test]
fn wait_times_out_with_nil() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("wto");
    let ta = acquire(&mut c, &name, "alice", 60_000);
    let start = Instant::now();
    assert_eq!(
        c.cmd(&["LOCK", "ACQUIRE", &name, "bob", "10000", "WAIT", "700"]),
        Reply::Nil
    );
    let el = start.elapsed();
    assert!(
        el >= Duration::from_millis(600),
        "WAIT 700 answered after {el:?}: too early"
    );
    assert!(
        el < Duration::from_millis(2_000),
        "WAIT 700 answered after {el:?}: too late"
    );
    // Same through redis-cli, RESP3.
    let start = Instant::now();
    assert_eq!(
        s.cli3(&["LOCK", "ACQUIRE", &name, "bob", "10000", "WAIT", "500"]),
        "(nil)\n"
    );
    assert!(start.elapsed() >= Duration::from_millis(400));
    // The timed-out waiter left the queue and does not get the lock later.
    wait_until(Duration::from_secs(3), "queue empty", || {
        (waiters(&mut c, &name) == 0).then_some(())
    });
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ta.to_string()]), int(1));
    assert_eq!(info(&mut c, &name), None);
    let t = acquire(&mut c, &name, "erin", 10_000);
    assert!(t > ta);
}

#[test]
fn waiter_that_disconnects_is_skipped_for_the_next_one() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("wgone");
    let ta = acquire(&mut c, &name, "alice", 60_000);
    let mut bob = s.conn();
    bob.send(&["LOCK", "ACQUIRE", &name, "bob", "60000", "WAIT", "30000"])
        .expect("send");
    wait_until(Duration::from_secs(5), "bob queued", || {
        (waiters(&mut c, &name) == 1).then_some(())
    });
    bob.close();
    let rx = spawn_cmd(&s, &["LOCK", "ACQUIRE", &name, "carol", "60000", "WAIT", "30000"]);
    wait_until(Duration::from_secs(5), "carol queued", || {
        (waiters(&mut c, &name) >= 1).then_some(())
    });
    // Let the server notice bob's disconnect (the count drops to 1 once it does).
    let _ = poll_until(Duration::from_secs(3), || (waiters(&mut c, &name) == 1).then_some(()));
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ta.to_string()]), int(1));
    let released = Instant::now();
    let (r, at) = rx.recv_timeout(Duration::from_secs(5)).expect("carol granted");
    let tc = r.int();
    assert!(tc > ta);
    assert!(
        at.saturating_duration_since(released) < Duration::from_secs(1),
        "carol granted {:?} after release",
        at.saturating_duration_since(released)
    );
    assert_eq!(
        info(&mut c, &name).map(|i| (i.0, i.1, i.3)),
        Some(("carol".to_string(), tc, 0))
    );
}

#[test]
fn waiter_that_disconnects_never_holds_the_lock() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name = uniq("wgone2");
    let ta = acquire(&mut c, &name, "alice", 60_000);
    let mut bob = s.conn();
    bob.send(&["LOCK", "ACQUIRE", &name, "bob", "60000", "WAIT", "30000"])
        .expect("send");
    wait_until(Duration::from_secs(5), "bob queued", || {
        (waiters(&mut c, &name) == 1).then_some(())
    });
    bob.close();
    // The server should drop bob's queue entry when he goes away; wait for that, but
    // the decisive check is below (erin gets the lock, not a vanished bob).
    let _ = poll_until(Duration::from_secs(3), || (waiters(&mut c, &name) == 0).then_some(()));
    assert_eq!(c.cmd(&["LOCK", "RELEASE", &name, "alice", &ta.to_string()]), int(1));
    let te = wait_until(
        Duration::from_secs(3),
        "erin acquires the lock released by alice",
        || match c.cmd(&["LOCK", "ACQUIRE", &name, "erin", "10000"]) {
            Reply::Int(t) => Some(t),
            _ => None,
        },
    );
    assert!(te > ta);
    assert_eq!(info(&mut c, &name).map(|i| (i.0, i.1)), Some(("erin".to_string(), te)));
}

#[test]
fn lock_through_the_redis_crate_resp2_and_resp3() {
    let s = TestServer::start();
    for (proto, client) in [(2, s.redis_client()), (3, s.redis_client3())] {
        let mut con = client.get_connection().expect("connect");
        let name = uniq(&format!("rc{proto}"));
        let t: i64 = redis::cmd("LOCK")
            .arg("ACQUIRE")
            .arg(&name)
            .arg("alice")
            .arg(10_000)
            .query(&mut con)
            .expect("acquire");
        assert!(t > 0);
        let again: i64 = redis::cmd("LOCK")
            .arg("ACQUIRE")
            .arg(&name)
            .arg("alice")
            .arg(10_000)
            .query(&mut con)
            .expect("re-acquire");
        assert_eq!(again, t);
        let other: Option<i64> = redis::cmd("LOCK")
            .arg("ACQUIRE")
            .arg(&name)
            .arg("bob")
            .arg(10_000)
            .query(&mut con)
            .expect("acquire other");
        assert_eq!(other, None);
        let v: redis::Value = redis::cmd("LOCK").arg("INFO").arg(&name).query(&mut con).expect("info");
        match (proto, &v) {
            (2, redis::Value::Array(items)) => {
                assert_eq!(items.len(), 8, "{v:?}");
                assert_eq!(items[0], redis::Value::BulkString(b"owner".to_vec()));
                assert_eq!(items[1], redis::Value::BulkString(b"alice".to_vec()));
                assert_eq!(items[3], redis::Value::Int(t));
                assert_eq!(items[7], redis::Value::Int(0));
            }
            (3, redis::Value::Map(m)) => {
                assert_eq!(m.len(), 4, "{v:?}");
                assert_eq!(
                    m[0],
                    (
                        redis::Value::BulkString(b"owner".to_vec()),
                        redis::Value::BulkString(b"alice".to_vec())
                    )
                );
                assert_eq!(
                    m[1],
                    (redis::Value::BulkString(b"token".to_vec()), redis::Value::Int(t))
                );
                assert_eq!(
                    m[3],
                    (redis::Value::BulkString(b"waiters".to_vec()), redis::Value::Int(0))
                );
            }
            _ => panic!("RESP{proto} LOCK INFO -> {v:?}"),
        }
        let ext: i64 = redis::cmd("LOCK")
            .arg("EXTEND")
            .arg(&name)
            .arg("alice")
            .arg(t)
            .arg(20_000)
            .query(&mut con)
            .expect("extend");
        assert_eq!(ext, 1);
        let rel: i64 = redis::cmd("LOCK")
            .arg("RELEASE")
            .arg(&name)
            .arg("alice")
            .arg(t)
            .query(&mut con)
            .expect("release");
        assert_eq!(rel, 1);
        let free: redis::Value = redis::cmd("LOCK").arg("INFO").arg(&name).query(&mut con).expect("info");
        assert_eq!(free, redis::Value::Nil);
    }
}

#[test]
fn names_are_binary_safe_and_length_checked() {
    let s = TestServer::start();
    let mut c = s.conn();
    let name: &[u8] = b"bin\x00\r\n\xff-lock";
    let t = match c.cmd_bytes(&[b"LOCK", b"ACQUIRE", name, b"owner", b"10000"]) {
        Reply::Int(t) => t,
        other => panic!("binary ACQUIRE -> {other:?}"),
    };
    // A name differing only after the NUL byte is another lock.
    let other = c.cmd_bytes(&[b"LOCK", b"ACQUIRE", b"bin\x00\r\n\xfe-lock", b"x", b"10000"]);
    assert!(matches!(other, Reply::Int(t2) if t2 > t), "{other:?}");
    let r = c.cmd_bytes(&[b"LOCK", b"INFO", name]);
    assert_eq!(r.field("owner"), Some(Reply::Bulk(b"owner".to_vec())), "{r:?}");
    assert_eq!(
        c.cmd_bytes(&[b"LOCK", b"RELEASE", name, b"owner", t.to_string().as_bytes()]),
        int(1)
    );
    // 1024 bytes is the longest allowed name; 1025 and 0 are -ERR.
    let ok = "n".repeat(1024);
    assert!(matches!(c.cmd(&["LOCK", "ACQUIRE", &ok, "o", "1000"]), Reply::Int(_)));
    let long = "n".repeat(1025);
    let r = c.cmd(&["LOCK", "ACQUIRE", &long, "o", "1000"]);
    assert!(r.is_err_with("ERR "), "1025-byte name -> {r:?}");
    let r = c.cmd(&["LOCK", "ACQUIRE", "", "o", "1000"]);
    assert!(r.is_err_with("ERR "), "empty name -> {r:?}");
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn bad_arguments_are_err_and_keep_the_connection() {
    let s = TestServer::start();
    let mut c = s.conn();
    let cases: &[&[&str]] = &[
        &["LOCK"],
        &["LOCK", "NOPE", "x"],
        &["LOCK", "ACQUIRE", "x"],
        &["LOCK", "ACQUIRE", "x", "o"],
        &["LOCK", "ACQUIRE", "x", "o", "abc"],
        &["LOCK", "ACQUIRE", "x", "o", "-5"],
        &["LOCK", "ACQUIRE", "x", "o", "1.5"],
        &["LOCK", "ACQUIRE", "x", "o", "99999999999999999999999"],
        &["LOCK", "ACQUIRE", "x", "o", "1000", "WAIT"],
        &["LOCK", "ACQUIRE", "x", "o", "1000", "WAIT", "soon"],
        &["LOCK", "ACQUIRE", "x", "o", "1000", "LATER", "5"],
        &["LOCK", "ACQUIRE", "x", "o", "1000", "WAIT", "5", "extra"],
        &["LOCK", "RELEASE", "x", "o"],
        &["LOCK", "RELEASE", "x", "o", "tok"],
        &["LOCK", "RELEASE", "x", "o", "1", "2"],
        &["LOCK", "EXTEND", "x", "o", "1"],
        &["LOCK", "EXTEND", "x", "o", "1", "abc"],
        &["LOCK", "INFO"],
        &["LOCK", "INFO", "x", "y"],
    ];
    for args in cases {
        let r = c.cmd(args);
        assert!(r.is_err_with("ERR "), "{args:?} -> {r:?}, want -ERR");
        assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connection unusable after {args:?}");
    }
    // redis-cli shows it as (error) ERR ...
    let out = s.cli(&["LOCK", "ACQUIRE", "x", "o", "abc"]);
    assert!(out.starts_with("(error) ERR "), "{out:?}");
    // Nothing was created by the refused commands.
    assert_eq!(c.cmd(&["LOCK", "INFO", "x"]), Reply::Nil);
}
