//! Against a real `fencepost` (env FENCEPOST_BIN): SEMAPHORE and the `Permit` guard,
//! RATELIMIT SLIDING, RWLOCK and its guards, LOCK ... DELAY, and LOCK WATCH.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, start};
use fencepost_client::{Client, Error, LockInfo, LockOptions, Permit, ReadGuard, RwMode, Watch, WriteGuard};

const TEN_S: Duration = Duration::from_secs(10);

/// Well under any WAIT used below: a grant this fast came from the release, not a timeout.
const PROMPT: Duration = Duration::from_secs(3);

/// The watch's next state, failing the test if none comes within 10 s.
async fn next(w: &mut Watch) -> Result<Option<LockInfo>, Error> {
    tokio::time::timeout(TEN_S, w.next())
        .await
        .expect("a change within 10 s")
}

fn is_err_code(r: &Result<impl std::fmt::Debug, Error>, want: &str) -> bool {
    matches!(r, Err(Error::Server { code, .. }) if code == want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_calls() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");

    let t1 = c
        .semaphore_acquire("s1", "a", 2, TEN_S, 1, None)
        .await
        .expect("acquire")
        .expect("granted");
    // The same holder asking again renews its lease: same token.
    assert_eq!(
        c.semaphore_acquire("s1", "a", 2, TEN_S, 1, None).await.expect("renew"),
        Some(t1)
    );
    let t2 = c
        .semaphore_acquire("s1", "b", 2, TEN_S, 1, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(t2 > t1, "tokens increase: {t2} > {t1}");
    assert_eq!(
        c.semaphore_acquire("s1", "c", 2, TEN_S, 1, None).await.expect("full"),
        None
    );
    let info = c.semaphore_info("s1").await.expect("info").expect("held");
    assert_eq!((info.limit, info.used, info.holders, info.waiters), (2, 2, 2, 0));
    assert!(c.semaphore_extend("s1", "a", t1, TEN_S).await.expect("extend"));
    assert!(!c.semaphore_extend("s1", "c", t1, TEN_S).await.expect("extend other"));
    assert!(c.semaphore_release("s1", "a", t1).await.expect("release"));
    assert!(!c.semaphore_release("s1", "a", t1).await.expect("release twice"));
    assert!(c.semaphore_release("s1", "b", t2).await.expect("release"));
    assert_eq!(c.semaphore_info("s1").await.expect("info idle"), None);

    // COUNT takes several permits at once.
    let big = c
        .semaphore_acquire("s2", "d", 3, TEN_S, 2, None)
        .await
        .expect("acquire 2")
        .expect("granted");
    assert_eq!(
        c.semaphore_acquire("s2", "e", 3, TEN_S, 2, None).await.expect("2 more"),
        None
    );
    assert!(c
        .semaphore_acquire("s2", "f", 3, TEN_S, 1, None)
        .await
        .expect("the last one")
        .is_some());
    let info = c.semaphore_info("s2").await.expect("info").expect("held");
    assert_eq!((info.used, info.holders), (3, 2));
    assert!(c.semaphore_release("s2", "d", big).await.expect("release"));
    assert!(is_err_code(
        &c.semaphore_acquire("s3", "g", 2, TEN_S, 3, None).await,
        "ERR"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permit_guard() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");
    // Short enough to outlive several times over, long enough that a renewal delayed by a
    // busy machine (two cores, parallel tests) does not lapse it.
    let ttl = Duration::from_millis(800);

    let p1 = Permit::acquire(&c, "p", "a", 2, ttl, 1, None)
        .await
        .expect("acquire")
        .expect("granted");
    let p2 = Permit::acquire(&c, "p", "b", 2, ttl, 1, None)
        .await
        .expect("acquire")
        .expect("granted");
    assert!(p1.is_valid() && p2.is_valid() && p1.remaining() > Duration::ZERO);
    assert!(Permit::acquire(&c, "p", "c", 2, ttl, 1, None)
        .await
        .expect("third")
        .is_none());

    // Outlive the TTL several times over: only renewal keeps the permits.
    tokio::time::sleep(ttl * 3).await;
    assert!(p1.is_valid() && p2.is_valid(), "renewal keeps both permits");
    let info = c.semaphore_info("p").await.expect("info").expect("held");
    assert_eq!((info.used, info.holders), (2, 2));

    // A third that waits is granted as soon as one permit is released. It blocks, so it
    // gets a connection of its own.
    let c2 = c.detached();
    let waiter = tokio::spawn(async move { Permit::acquire(&c2, "p", "c", 2, ttl, 1, Some(TEN_S)).await });
    eventually("waiter queued", || async {
        c.semaphore_info("p")
            .await
            .ok()
            .flatten()
            .filter(|i| i.waiters == 1)
            .map(|_| ())
    })
    .await;
    let released = Instant::now();
    assert!(p1.release().await.expect("release"));
    let p3 = waiter
        .await
        .expect("join")
        .expect("wait acquire")
        .expect("granted on release");
    assert!(
        released.elapsed() < PROMPT,
        "granted by the release, not by WAIT running out"
    );
    assert!(p3.is_valid() && p3.token() > p2.token());

    // Released behind its back, a permit fails to renew and turns invalid.
    assert!(c
        .semaphore_release("p", "b", p2.token())
        .await
        .expect("release behind its back"));
    eventually("permit invalid", || async { (!p2.is_valid()).then_some(()) }).await;
    assert_eq!(p2.remaining(), Duration::ZERO);

    // Dropping a permit releases it: the semaphore goes idle.
    drop(p3);
    eventually("drop releases", || async {
        matches!(c.semaphore_info("p").await, Ok(None)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_window() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");
    let window = Duration::from_secs(60);

    for left in [2, 1, 0] {
        let r = c.ratelimit_sliding("sw", 3, window, 1).await.expect("admitted");
        assert!(r.allowed && r.capacity == 3 && r.remaining == left && r.retry_after.is_none());
        assert!(r.reset_after > Duration::ZERO && r.reset_after <= window);
    }
    let r = c.ratelimit_sliding("sw", 3, window, 1).await.expect("refused");
    assert!(!r.allowed && r.remaining == 0);
    assert!(r.retry_after.is_some_and(|d| d > Duration::ZERO && d <= window));
    // COST 0 peeks: nothing taken, nothing refused.
    let r = c.ratelimit_sliding("sw", 3, window, 0).await.expect("peek");
    assert!(r.allowed && r.remaining == 0);

    // The window slides: once retry-after has passed, a call is admitted again.
    let short = Duration::from_millis(300);
    assert!(c.ratelimit_sliding("sw2", 1, short, 1).await.expect("first").allowed);
    let r = c.ratelimit_sliding("sw2", 1, short, 1).await.expect("second");
    let wait = r.retry_after.expect("refused with a retry-after");
    assert!(!r.allowed && wait <= short);
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert!(
        c.ratelimit_sliding("sw2", 1, short, 1)
            .await
            .expect("after retry-after")
            .allowed
    );

    // ... but the whole window counts: a call admitted more than half a window ago still
    // keeps the next one out.
    let window = Duration::from_millis(800);
    assert!(c.ratelimit_sliding("sw4", 1, window, 1).await.expect("first").allowed);
    tokio::time::sleep(window * 5 / 8).await;
    let r = c
        .ratelimit_sliding("sw4", 1, window, 1)
        .await
        .expect("late in the window");
    assert!(!r.allowed, "the first call is still inside the window");
    assert!(r.retry_after.is_some_and(|d| d <= window * 3 / 8));

    assert!(is_err_code(
        &c.ratelimit_sliding("sw3", 100_001, Duration::from_secs(60), 1).await,
        "ERR"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rwlock_calls() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");

    let r1 = c
        .rwlock_read("rw", "a", TEN_S, None)
        .await
        .expect("read")
        .expect("granted");
    assert_eq!(c.rwlock_read("rw", "a", TEN_S, None).await.expect("renew"), Some(r1));
    let r2 = c
        .rwlock_read("rw", "b", TEN_S, None)
        .await
        .expect("read")
        .expect("shared");
    assert_eq!(c.rwlock_write("rw", "w", TEN_S, None).await.expect("write"), None);
    let info = c.rwlock_info("rw").await.expect("info").expect("held");
    assert_eq!(
        (info.mode, info.holders, info.token, info.waiters),
        (RwMode::Read, 2, None, 0)
    );
    assert!(c.rwlock_extend("rw", "a", r1, TEN_S).await.expect("extend"));
    assert!(c.rwlock_release("rw", "a", r1).await.expect("release"));
    assert!(c.rwlock_release("rw", "b", r2).await.expect("release"));
    assert!(!c.rwlock_release("rw", "b", r2).await.expect("release twice"));

    let w = c
        .rwlock_write("rw", "w", TEN_S, None)
        .await
        .expect("write")
        .expect("granted when free");
    assert_eq!(c.rwlock_read("rw", "a", TEN_S, None).await.expect("read"), None);
    let info = c.rwlock_info("rw").await.expect("info").expect("held");
    assert_eq!((info.mode, info.holders, info.token), (RwMode::Write, 1, Some(w)));
    // The writer's token passes FENCE ... LOCK as a LOCK holder's does.
    c.fence_set("rw-data", w, "v", Some(b"rw"))
        .await
        .expect("writer fences");
    assert!(matches!(
        c.fence_set("rw-data", w + 1000, "x", Some(b"rw")).await,
        Err(Error::Stale(_))
    ));
    assert!(c.rwlock_release("rw", "w", w).await.expect("release"));
    assert_eq!(c.rwlock_info("rw").await.expect("info free"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rwlock_guards() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");
    // Short enough to outlive several times over, long enough that a renewal delayed by a
    // busy machine (two cores, parallel tests) does not lapse it.
    let ttl = Duration::from_millis(800);

    let a = ReadGuard::acquire(&c, "g", "a", ttl, None)
        .await
        .expect("read")
        .expect("granted");
    let b = ReadGuard::acquire(&c, "g", "b", ttl, None)
        .await
        .expect("read")
        .expect("readers coexist");

    // A writer waits for both readers (on its own connection: it blocks).
    let c2 = c.detached();
    let writer = tokio::spawn(async move { WriteGuard::acquire(&c2, "g", "w", ttl, Some(TEN_S)).await });
    eventually("writer queued", || async {
        c.rwlock_info("g")
            .await
            .ok()
            .flatten()
            .filter(|i| i.waiters == 1)
            .map(|_| ())
    })
    .await;
    // A reader arriving after the queued writer is held back (no writer starvation).
    assert!(ReadGuard::acquire(&c, "g", "late", ttl, None)
        .await
        .expect("late read")
        .is_none());
    // Renewal keeps the readers through several TTLs, so the writer keeps waiting.
    tokio::time::sleep(ttl * 3).await;
    assert!(a.is_valid() && b.is_valid(), "renewal keeps the readers");
    assert!(!writer.is_finished(), "the writer waits while readers hold");
    assert!(a.release().await.expect("release a"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!writer.is_finished(), "one reader still holds");
    let released = Instant::now();
    assert!(b.release().await.expect("release b"));
    let w = writer
        .await
        .expect("join")
        .expect("write acquire")
        .expect("granted once readers left");
    assert!(released.elapsed() < PROMPT, "granted by the release");
    let info = c.rwlock_info("g").await.expect("info").expect("held");
    assert_eq!((info.mode, info.token), (RwMode::Write, Some(w.token())));

    // The writer is renewed too, and turns invalid once released behind its back.
    tokio::time::sleep(ttl * 3).await;
    assert!(w.is_valid(), "renewal keeps the writer");
    assert!(c.rwlock_release("g", "w", w.token()).await.expect("behind its back"));
    eventually("writer invalid", || async { (!w.is_valid()).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_delay() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");
    let (ttl, delay) = (Duration::from_millis(200), Duration::from_millis(1000));
    let opts = LockOptions::default().delay(delay);

    // A lease that ends by expiry keeps the lock from everyone until `delay` after it;
    // a waiter keeps its place and is served then.
    let sent = Instant::now();
    let t1 = c
        .lock_acquire_with("d1", "a", ttl, opts)
        .await
        .expect("acquire")
        .expect("granted");
    let c2 = c.detached();
    let waiter = tokio::spawn(async move {
        let t = c2.lock_acquire("d1", "b", TEN_S, Some(TEN_S)).await;
        (t, sent.elapsed())
    });
    let (t2, granted_after) = waiter.await.expect("join");
    let t2 = t2.expect("wait acquire").expect("granted after the delay");
    assert!(t2 > t1);
    // The server stamps the lease after we sent, so ttl + delay is a lower bound (less 1%).
    assert!(
        granted_after >= (ttl + delay) * 99 / 100,
        "granted {granted_after:?} after acquire, before expiry + delay"
    );
    assert!(granted_after < ttl + delay + PROMPT);

    // A lease that ends by RELEASE has no delay.
    let t = c
        .lock_acquire_with("d2", "a", TEN_S, opts.wait(Duration::from_millis(10)))
        .await
        .expect("acquire")
        .expect("granted");
    assert!(c.lock_release("d2", "a", t).await.expect("release"));
    assert!(c.lock_acquire("d2", "b", TEN_S, None).await.expect("acquire").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_watch() {
    let Some(server) = start().await else { return };
    let c = Client::connect(&server.url).await.expect("connect");
    let short = Duration::from_millis(300);

    // Nobody comes: the timeout answers the state as it stands (free).
    let began = Instant::now();
    assert_eq!(c.lock_watch("wl", 0, short).await.expect("watch free"), None);
    assert!(began.elapsed() >= short * 9 / 10, "it blocked until the timeout");

    let t1 = c
        .lock_acquire("wl", "a", TEN_S, None)
        .await
        .expect("acquire")
        .expect("granted");
    // Token 0 means "until anyone holds": answered at once.
    let info = c.lock_watch("wl", 0, TEN_S).await.expect("watch any").expect("held");
    assert_eq!((info.owner.as_slice(), info.token), (&b"a"[..], t1));
    // Watching the current token times out with the current holder.
    let info = c.lock_watch("wl", t1, short).await.expect("watch same").expect("held");
    assert_eq!(info.token, t1);

    // A blocked watch answers the new holder as soon as the holder changes.
    let c2 = c.detached();
    let watching = tokio::spawn(async move { c2.lock_watch("wl", t1, TEN_S).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.lock_release("wl", "a", t1).await.expect("release"));
    let changed = Instant::now();
    let info = watching.await.expect("join").expect("watch");
    assert!(changed.elapsed() < PROMPT, "answered by the change, not the timeout");
    assert_eq!(info, None, "the holder left: free");

    // `Client::watch` follows the holder from state to state.
    let mut w = c.watch("wl").round(Duration::from_millis(200));
    assert_eq!(next(&mut w).await.expect("first: the state now"), None);
    let t2 = c
        .lock_acquire("wl", "b", TEN_S, None)
        .await
        .expect("acquire")
        .expect("granted");
    let info = next(&mut w).await.expect("b holds").expect("held");
    assert_eq!((info.owner.as_slice(), info.token), (&b"b"[..], t2));
    // Quiet rounds (several timeouts) yield nothing; the next change still arrives.
    let release = {
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            c.lock_release("wl", "b", t2).await
        })
    };
    assert_eq!(next(&mut w).await.expect("b left"), None);
    assert!(release.await.expect("join").expect("release"));
}
