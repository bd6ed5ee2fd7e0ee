//! SEMAPHORE, RWLOCK, lock delay and LOCK WATCH on a real 3-node cluster, driven
//! through followers (which forward to the leader), across a leader kill.

use std::thread;
use std::time::{Duration, Instant};

use fencepost_tests::cluster::{TestCluster, CLUSTER_TIMEOUT};
use fencepost_tests::*;

fn token(r: &Reply, what: &str) -> i64 {
    match r {
        Reply::Int(t) if *t > 0 => *t,
        other => panic!("{what} -> {other:?}, want a token"),
    }
}

fn field_int(r: &Reply, key: &str) -> i64 {
    match r.field(key) {
        Some(Reply::Int(n)) => n,
        other => panic!("{key} of {r:?} is {other:?}"),
    }
}

#[test]
fn permits_and_read_locks_survive_a_leader_kill_through_followers() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(leader)[0];
    let (s, r) = (uniq("sem"), uniq("rw"));
    let t = Duration::from_secs(15);

    let permit = c.cmd_retry(f, &["SEMAPHORE", "ACQUIRE", &s, "h1", "3", "60000", "COUNT", "2"], t);
    token(&permit, "SEMAPHORE ACQUIRE h1 COUNT 2");
    token(
        &c.cmd_retry(f, &["SEMAPHORE", "ACQUIRE", &s, "h2", "3", "60000"], t),
        "h2",
    );
    assert_eq!(
        c.cmd_retry(f, &["SEMAPHORE", "ACQUIRE", &s, "h3", "3", "60000"], t),
        Reply::Nil
    );
    let r1 = token(&c.cmd_retry(f, &["RWLOCK", "READ", &r, "r1", "60000"], t), "READ r1");
    let r2 = token(&c.cmd_retry(f, &["RWLOCK", "READ", &r, "r2", "60000"], t), "READ r2");
    assert_eq!(c.cmd_retry(f, &["RWLOCK", "WRITE", &r, "w", "60000"], t), Reply::Nil);

    c.kill9(leader);
    let survivor = c.followers_of(leader)[0];
    let new_leader = c.leader(CLUSTER_TIMEOUT);
    assert_ne!(new_leader, leader);

    // Everything held before the kill is still held, through either survivor.
    let info = c.cmd_retry(survivor, &["SEMAPHORE", "INFO", &s], t);
    assert_eq!(
        (field_int(&info, "used"), field_int(&info, "holders")),
        (3, 2),
        "{info:?}"
    );
    assert_eq!(
        c.cmd_retry(survivor, &["SEMAPHORE", "ACQUIRE", &s, "h3", "3", "60000"], t),
        Reply::Nil
    );
    let info = c.cmd_retry(survivor, &["RWLOCK", "INFO", &r], t);
    assert_eq!(info.field("mode").map(|m| m.text()), Some("read".into()), "{info:?}");
    assert_eq!(field_int(&info, "holders"), 2);
    assert_eq!(info.field("token"), Some(Reply::Nil));
    assert_eq!(
        c.cmd_retry(survivor, &["RWLOCK", "WRITE", &r, "w", "60000"], t),
        Reply::Nil
    );

    // The readers leave; the writer gets in, and its token (only its) passes a fence.
    for (owner, tok) in [("r1", r1), ("r2", r2)] {
        let rel = c.cmd_retry(survivor, &["RWLOCK", "RELEASE", &r, owner, &tok.to_string()], t);
        assert_eq!(rel, Reply::Int(1), "release {owner}");
    }
    let w = token(
        &c.cmd_retry(survivor, &["RWLOCK", "WRITE", &r, "w", "60000"], t),
        "WRITE w",
    );
    assert!(w > r2);
    let res = uniq("res");
    let ok = c.cmd_retry(survivor, &["FENCE", "ADVANCE", &res, &w.to_string(), "LOCK", &r], t);
    assert_eq!(ok, Reply::Int(w));
    let stale = c.cmd_retry(survivor, &["FENCE", "ADVANCE", &res, &r2.to_string(), "LOCK", &r], t);
    assert!(stale.is_err_with("STALE"), "{stale:?}");
}

#[test]
fn lock_watch_through_a_follower_sees_a_grant_made_through_the_leader() {
    let _g = heavy_lock();
    let c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(leader)[0];
    let name = uniq("watched");
    let t = Duration::from_secs(15);
    let port = c.port(f);
    let watcher = {
        let name = name.clone();
        thread::spawn(move || {
            let mut conn = Conn::connect(port);
            let started = Instant::now();
            let r = conn.cmd(&["LOCK", "WATCH", &name, "0", "20000"]);
            (r, started.elapsed())
        })
    };
    thread::sleep(Duration::from_millis(500));
    let tok = token(
        &c.cmd_retry(leader, &["LOCK", "ACQUIRE", &name, "alice", "60000"], t),
        "ACQUIRE",
    );
    let (seen, took) = watcher.join().expect("watcher thread");
    assert_eq!(seen.field("owner").map(|o| o.text()), Some("alice".into()), "{seen:?}");
    assert_eq!(field_int(&seen, "token"), tok);
    assert!(
        took >= Duration::from_millis(400),
        "answered before the grant: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "the grant was not noticed: {took:?}");

    // Watching the current holder: the timeout answers LOCK INFO as it stands.
    let started = Instant::now();
    let same = c.cmd_retry(f, &["LOCK", "WATCH", &name, &tok.to_string(), "300"], t);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(field_int(&same, "token"), tok);
    // A release is a change: a watcher of the holder learns the lock is free.
    let waiter = {
        let (name, tok) = (name.clone(), tok);
        thread::spawn(move || Conn::connect(port).cmd(&["LOCK", "WATCH", &name, &tok.to_string(), "20000"]))
    };
    thread::sleep(Duration::from_millis(300));
    let rel = c.cmd_retry(leader, &["LOCK", "RELEASE", &name, "alice", &tok.to_string()], t);
    assert_eq!(rel, Reply::Int(1));
    assert_eq!(waiter.join().expect("watcher thread"), Reply::Nil);
}

#[test]
fn lock_delay_holds_everyone_off_after_an_expiry_on_every_node() {
    let _g = heavy_lock();
    let c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);
    let fs = c.followers_of(leader);
    let name = uniq("delayed");
    let t = Duration::from_secs(15);
    let granted = Instant::now();
    token(
        &c.cmd_retry(fs[0], &["LOCK", "ACQUIRE", &name, "a", "300", "DELAY", "2000"], t),
        "ACQUIRE DELAY",
    );
    thread::sleep(Duration::from_millis(800));
    // Expired, but within its delay: refused to everyone, the old holder included.
    for (node, owner) in [(fs[1], "b"), (leader, "a")] {
        let r = c.cmd_retry(node, &["LOCK", "ACQUIRE", &name, owner, "1000"], t);
        if granted.elapsed() < Duration::from_millis(2200) {
            assert_eq!(r, Reply::Nil, "{owner} via node {node} within the delay");
        }
    }
    assert_eq!(c.cmd_retry(fs[1], &["LOCK", "INFO", &name], t), Reply::Nil);
    // A queued waiter keeps its place and is served once the delay is over.
    let r = c.cmd_retry(fs[1], &["LOCK", "ACQUIRE", &name, "b", "1000", "WAIT", "10000"], t);
    token(&r, "WAIT through the delay");
    assert!(
        granted.elapsed() >= Duration::from_millis(2300),
        "granted early: {:?}",
        granted.elapsed()
    );
}
