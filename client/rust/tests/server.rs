//! Against a real `fencepost` (env FENCEPOST_BIN): every typed call, the Lock guard, retry.

mod common;

use std::time::Duration;

use common::{binary, eventually, free_port, spawn, start, wait_ready};
use fencepost_client::{retry, Backoff, Begin, Client, Error, IdempStatus, Lock};

const TEN_S: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_real_server() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");
    locks(&c).await;
    fences(&c).await;
    buckets(&c).await;
    idempotency(&c).await;
    guard(&c).await;
    waiting(&c, &server.url).await;
}

async fn locks(c: &Client) {
    let t1 = c
        .lock_acquire("l1", "alice", TEN_S, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(t1 > 0);
    // Re-acquire by the same owner is idempotent: same token.
    assert_eq!(
        c.lock_acquire("l1", "alice", TEN_S, None).await.expect("reacquire"),
        Some(t1)
    );
    assert_eq!(c.lock_acquire("l1", "bob", TEN_S, None).await.expect("contend"), None);
    let info = c.lock_info("l1").await.expect("info").expect("held");
    assert_eq!(
        (info.owner.as_slice(), info.token, info.waiters),
        (&b"alice"[..], t1, 0)
    );
    assert!(info.ttl <= TEN_S && info.ttl > Duration::from_secs(5));
    assert!(c.lock_extend("l1", "alice", t1, TEN_S).await.expect("extend"));
    assert!(!c.lock_extend("l1", "bob", t1, TEN_S).await.expect("extend other"));
    assert!(!c
        .lock_release("l1", "alice", t1 + 1)
        .await
        .expect("release wrong token"));
    assert!(c.lock_release("l1", "alice", t1).await.expect("release"));
    assert_eq!(c.lock_info("l1").await.expect("info free"), None);
    let t2 = c
        .lock_acquire("l1", "bob", TEN_S, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(t2 > t1, "tokens increase: {t2} > {t1}");
    assert!(c.lock_release("l1", "bob", t2).await.expect("release"));
}

async fn fences(c: &Client) {
    assert_eq!(c.fence_advance("f1", 10, None).await.expect("advance"), 10);
    assert_eq!(c.fence_advance("f1", 10, None).await.expect("equal is accepted"), 10);
    assert!(matches!(c.fence_advance("f1", 9, None).await, Err(Error::Stale(_))));
    c.fence_set("fk", 5, "v5", None).await.expect("set");
    let got = c.fence_get("fk").await.expect("get").expect("exists");
    assert_eq!((got.token, got.value.as_deref()), (5, Some(&b"v5"[..])));
    assert!(matches!(c.fence_set("fk", 4, "old", None).await, Err(Error::Stale(_))));
    assert_eq!(
        c.fence_get("fk").await.expect("get").and_then(|f| f.value),
        Some(b"v5".to_vec())
    );
    assert_eq!(c.fence_get("no-such-fence").await.expect("get missing"), None);
    // With LOCK: only the current holder's token passes.
    let t = c
        .lock_acquire("fl", "w", TEN_S, None)
        .await
        .expect("acquire")
        .expect("granted");
    c.fence_set("fk2", t, "mine", Some(b"fl")).await.expect("holder sets");
    assert!(matches!(
        c.fence_set("fk2", t + 1000, "x", Some(b"fl")).await,
        Err(Error::Stale(_))
    ));
    assert!(c.lock_release("fl", "w", t).await.expect("release"));
}

async fn buckets(c: &Client) {
    let period = Duration::from_secs(60);
    let r = c.token_bucket("b1", 2, 1, period, 1).await.expect("take 1");
    assert!(r.allowed && r.capacity == 2 && r.remaining == 1 && r.retry_after.is_none());
    let r = c.token_bucket("b1", 2, 1, period, 1).await.expect("take 2");
    assert!(r.allowed && r.remaining == 0);
    let r = c.token_bucket("b1", 2, 1, period, 1).await.expect("refused");
    assert!(!r.allowed && r.retry_after.is_some_and(|d| d > Duration::ZERO));
    let r = c.token_bucket("b1", 2, 1, period, 0).await.expect("peek");
    assert!(r.allowed && r.remaining == 0);
    assert!(
        matches!(c.token_bucket("b1", 2, 1, period, 3).await, Err(Error::Server { ref code, .. }) if code == "ERR")
    );
}

async fn idempotency(c: &Client) {
    let Begin::Started(t) = c.idemp_begin("k1", "fp", TEN_S, None).await.expect("begin") else {
        panic!("first BEGIN must start");
    };
    assert!(matches!(
        c.idemp_begin("k1", "fp", TEN_S, None).await.expect("again"),
        Begin::Pending(_)
    ));
    assert!(matches!(
        c.idemp_begin("k1", "other", TEN_S, None).await,
        Err(Error::Mismatch(_))
    ));
    assert!(matches!(
        c.idemp_get("k1").await.expect("get"),
        Some(IdempStatus::Pending(_))
    ));
    c.idemp_complete("k1", t, "resp").await.expect("complete");
    assert_eq!(
        c.idemp_begin("k1", "fp", TEN_S, None).await.expect("replay"),
        Begin::Done(b"resp".to_vec())
    );
    assert_eq!(
        c.idemp_get("k1").await.expect("get"),
        Some(IdempStatus::Done(b"resp".to_vec()))
    );
    assert_eq!(c.idemp_get("k-unknown").await.expect("get"), None);

    // ABORT lets a retry start again with a new token.
    let Begin::Started(a) = c.idemp_begin("k2", "fp", TEN_S, None).await.expect("begin") else {
        panic!("start")
    };
    c.idemp_abort("k2", a).await.expect("abort");
    let Begin::Started(b) = c.idemp_begin("k2", "fp", TEN_S, None).await.expect("begin") else {
        panic!("restart")
    };
    assert!(b > a);

    // A lapsed lease is taken over; the old worker's COMPLETE is then stale.
    let lease = Some(Duration::from_millis(50));
    let Begin::Started(old) = c.idemp_begin("k3", "fp", TEN_S, lease).await.expect("begin") else {
        panic!("start")
    };
    let new = eventually("lease takeover", || async {
        match c.idemp_begin("k3", "fp", TEN_S, lease).await {
            Ok(Begin::Started(n)) => Some(n),
            _ => None,
        }
    })
    .await;
    assert!(new > old);
    assert!(matches!(
        c.idemp_complete("k3", old, "late").await,
        Err(Error::Stale(_))
    ));
    c.idemp_complete("k3", new, "ok").await.expect("new holder completes");
}

async fn guard(c: &Client) {
    let ttl = Duration::from_millis(300);
    let lock = Lock::acquire(c, "g1", "me", ttl, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(lock.is_valid());
    // Outlive the TTL several times over: only the watchdog keeps the lease.
    tokio::time::sleep(ttl * 4).await;
    assert!(lock.is_valid(), "watchdog keeps the lease");
    let info = c.lock_info("g1").await.expect("info").expect("still held");
    assert_eq!(info.token, lock.token());
    assert!(lock.release().await.expect("release"));
    assert_eq!(c.lock_info("g1").await.expect("info"), None);

    // When someone else releases it, the next extend fails and the guard turns invalid.
    let lock = Lock::acquire(c, "g2", "me", ttl, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(c
        .lock_release("g2", "me", lock.token())
        .await
        .expect("release behind its back"));
    eventually("guard invalid", || async { (!lock.is_valid()).then_some(()) }).await;
}

async fn waiting(c: &Client, url: &str) {
    let t1 = c
        .lock_acquire("w1", "a", TEN_S, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert_eq!(
        c.lock_acquire("w1", "b", TEN_S, Some(Duration::from_millis(100)))
            .await
            .expect("wait out"),
        None
    );
    let c2 = Client::connect(url).await.expect("second connection");
    let waiter = tokio::spawn(async move { c2.lock_acquire("w1", "b", TEN_S, Some(TEN_S)).await });
    eventually("waiter queued", || async {
        c.lock_info("w1")
            .await
            .ok()
            .flatten()
            .filter(|i| i.waiters == 1)
            .map(|_| ())
    })
    .await;
    assert!(c.lock_release("w1", "a", t1).await.expect("release"));
    let t2 = waiter
        .await
        .expect("join")
        .expect("wait acquire")
        .expect("granted on release");
    assert!(t2 > t1);
    assert_eq!(
        c.lock_info("w1").await.expect("info").map(|i| i.owner),
        Some(b"b".to_vec())
    );
}

/// One Client outlives its server's crash and restart: the call in flight fails (never
/// silently resent), later calls reconnect by themselves, and the lock taken before is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_server_restarts() {
    let Some(bin) = binary() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, raft_port) = (free_port(), free_port());
    let url = format!("redis://127.0.0.1:{port}");
    let mut child = spawn(&bin, port, raft_port, dir.path());
    wait_ready(&url).await;
    let c = Client::connect(&url).await.expect("connect");
    let t = c
        .lock_acquire("survivor", "alice", Duration::from_secs(600), None)
        .await
        .expect("acquire")
        .expect("granted");

    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let err = c.ping().await.expect_err("no server: the call fails");
    assert!(
        matches!(err, Error::Io(_)),
        "a dead server is an I/O error, not a reply: {err:?}"
    );

    let mut child = spawn(&bin, port, raft_port, dir.path());
    let info = eventually("the same Client serves again", || async {
        c.lock_info("survivor").await.ok().flatten()
    })
    .await;
    assert_eq!((info.owner.as_slice(), info.token), (&b"alice"[..], t));
    let _ = child.kill();
    let _ = child.wait();
}

/// With several nodes, a Client skips one that is down at connect and leaves the one in
/// use when it dies. (Two independent single nodes stand in for a cluster's members: the
/// test is about where the Client sends, which each node's own data shows.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_any_moves_to_the_next_node() {
    let Some(a) = start().await else { return };
    let Some(b) = start().await else { return };
    let dead = format!("redis://127.0.0.1:{}", free_port());

    let c = Client::connect_any(&[&dead, &a.url])
        .await
        .expect("skips the dead node");
    let on_a = c
        .lock_acquire("where", "a", Duration::from_secs(600), None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(on_a > 0);

    let c = Client::connect_any(&[&a.url, &b.url]).await.expect("connect");
    assert!(c.lock_info("where").await.expect("info").is_some(), "first on A");
    drop(a); // kill -9
             // The first call after the kill may fail (its connection died); the Client then moves
             // on, and B, which never saw the lock, answers.
    let seen = eventually("a call served by B", || async {
        c.lock_info("where").await.ok().map(|i| i.is_none())
    })
    .await;
    assert!(seen, "B holds no lock named 'where'");
    assert!(c
        .lock_acquire("where", "b", Duration::from_secs(600), None)
        .await
        .expect("acquire on B")
        .is_some());
}

/// Needs no server: a refused connection is retried, then returned as retry-safe.
#[tokio::test]
async fn retry_refused() {
    let port = free_port(); // Nothing listens there now.
    let policy = Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(5),
        max_attempts: 3,
    };
    let url = format!("redis://127.0.0.1:{port}");
    let mut calls = 0;
    let r = retry(&policy, || {
        calls += 1;
        Client::connect(&url)
    })
    .await;
    assert!(matches!(r, Err(ref e) if e.is_retry_safe()));
    assert_eq!(calls, 3);
}
