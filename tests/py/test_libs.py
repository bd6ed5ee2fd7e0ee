"""Real Redis lock and rate-limit libraries, unchanged, against a fencepost cluster.

Run by tests/tests/redis_libs.rs, which starts a 3-node cluster (TestCluster) and
passes FENCEPOST_FOLLOWER (host:port of a follower: every request is forwarded to the
leader) and FENCEPOST_LEADER. For the failover test this script prints KILL-LEADER and
waits for a line on stdin: the driver kill -9s the leader and answers.

Libraries: redis-py Lock (sync and asyncio, RESP2 and RESP3), redlock-py, limits (fixed
and moving windows). Prints one line per test and `N passed, N failed`.
"""

import asyncio
import os
import sys
import time
import traceback
import uuid

import redis
import redis.asyncio as aredis
from redis.exceptions import LockError, LockNotOwnedError

HOST, PORT = os.environ["FENCEPOST_FOLLOWER"].rsplit(":", 1)
PORT = int(PORT)


def client(protocol=2):
    return redis.Redis(host=HOST, port=PORT, protocol=protocol, socket_timeout=10)


def name(prefix):
    return f"{prefix}:{uuid.uuid4().hex[:8]}"


def retry(fn, timeout=20.0):
    """Calls fn until it stops raising a connection/cluster error (failover)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
            text = str(e)
            # redis-py strips the CLUSTERDOWN code into the exception's type.
            transient = isinstance(
                e, (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ClusterDownError)
            ) or text.startswith(("CLUSTERDOWN", "UNCERTAIN"))
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def redis_py_lock(protocol):
    r = client(protocol)
    other = client(protocol)
    key = name("pylock")
    a = r.lock(key, timeout=5, blocking=False)
    b = other.lock(key, timeout=5, blocking=False)
    check(a.acquire(), "first acquire")
    check(not b.acquire(), "second holder refused")
    check(a.owned() and a.locked(), "owned and locked")
    check(not b.owned(), "other does not own it")
    check(a.extend(10), "extend")
    ttl = r.pttl(key)
    check(10_000 < ttl <= 15_000, f"extend adds time: pttl {ttl}")
    check(a.reacquire(), "reacquire")
    ttl = r.pttl(key)
    check(3_000 < ttl <= 5_000, f"reacquire resets the ttl to the lock's timeout: pttl {ttl}")
    try:
        b.release()
        raise AssertionError("releasing a lock one does not hold must fail")
    except LockError:
        pass
    a.release()
    check(not a.locked(), "released")
    check(b.acquire(), "free again after release")
    # A lock whose lease ran out is free for the next holder; the old one cannot extend.
    b.release()
    short = r.lock(key, timeout=0.2)
    check(short.acquire(), "short lease")
    time.sleep(0.35)
    check(other.lock(key, timeout=5).acquire(blocking=False), "expired lease taken over")
    try:
        short.extend(1)
        raise AssertionError("extending a lost lock must fail")
    except LockNotOwnedError:
        pass
    # Blocking acquire waits for the holder's release.
    key2 = name("pylock-block")
    holder = r.lock(key2, timeout=0.5)
    check(holder.acquire(), "holder")
    t0 = time.monotonic()
    waiter = other.lock(key2, timeout=5, blocking_timeout=3, sleep=0.05)
    check(waiter.acquire(), "blocking acquire gets it after the lease ends")
    check(time.monotonic() - t0 >= 0.3, "it waited")
    waiter.release()


async def redis_py_async_lock_run(protocol):
    r = aredis.Redis(host=HOST, port=PORT, protocol=protocol)
    other = aredis.Redis(host=HOST, port=PORT, protocol=protocol)
    try:
        key = name("pyalock")
        a = r.lock(key, timeout=5)
        check(await a.acquire(blocking=False), "async acquire")
        check(not await other.lock(key, timeout=5).acquire(blocking=False), "async exclusive")
        check(await a.owned(), "async owned")
        check(await a.extend(5), "async extend")
        await a.release()
        async with other.lock(key, timeout=5) as l2:
            check(await l2.owned(), "context manager holds it")
        check(not await r.exists(key), "released on exit")
    finally:
        await r.aclose()
        await other.aclose()


def redis_py_async_lock(protocol):
    asyncio.run(redis_py_async_lock_run(protocol))


def redlock_py(_protocol):
    from redlock import Redlock

    dlm = Redlock([{"host": HOST, "port": PORT, "db": 0}], retry_count=1)
    key = name("redlock")
    lk = dlm.lock(key, 5000)
    check(lk, f"redlock acquired: {lk!r}")
    check(lk.validity > 4000, f"validity {lk.validity}")
    check(dlm.lock(key, 5000) is False, "redlock exclusive")
    dlm.unlock(lk)
    again = dlm.lock(key, 5000)
    check(again, "redlock free after unlock")
    dlm.unlock(again)


def limits_windows(_protocol):
    from limits import parse, storage, strategies

    store = storage.RedisStorage(f"redis://{HOST}:{PORT}")
    check(store.check(), "limits storage check")
    item = parse("5/minute")
    for cls in (strategies.FixedWindowRateLimiter, strategies.MovingWindowRateLimiter):
        lim = cls(store)
        ident = name(cls.__name__)
        got = [lim.hit(item, ident) for _ in range(7)]
        check(got == [True] * 5 + [False, False], f"{cls.__name__}: {got}")
        check(not lim.test(item, ident), f"{cls.__name__}: test says limited")
        stats = lim.get_window_stats(item, ident)
        check(stats.remaining == 0, f"{cls.__name__}: remaining {stats.remaining}")
        check(stats.reset_time > time.time(), f"{cls.__name__}: reset in the future")
        check(lim.hit(item, name("other")), f"{cls.__name__}: other identity unaffected")
        lim.clear(item, ident)
        check(lim.hit(item, ident), f"{cls.__name__}: cleared")


def lock_survives_leader_kill(_protocol):
    r = client(2)
    key = name("failover")
    lk = r.lock(key, timeout=30)
    check(lk.acquire(blocking=False), "held before the kill")
    print("KILL-LEADER", flush=True)
    reply = sys.stdin.readline().strip()
    check(reply == "KILLED", f"driver said {reply!r}")
    # Still ours, still exclusive, and releasable: the lease lives in the replicated log.
    check(retry(lk.owned), "still owned after the leader died")
    rival = client(2).lock(key, timeout=5)
    check(not retry(lambda: rival.acquire(blocking=False)), "still exclusive after the leader died")
    check(retry(lambda: lk.extend(5)), "extend after failover")
    retry(lk.release)
    check(retry(lambda: rival.acquire(blocking=False)), "free after release")


TESTS = [
    ("redis-py Lock", redis_py_lock, (2, 3)),
    ("redis-py asyncio Lock", redis_py_async_lock, (2, 3)),
    ("redlock-py", redlock_py, (2,)),
    ("limits fixed+moving window", limits_windows, (2,)),
    ("redis-py Lock across kill -9 of the leader", lock_survives_leader_kill, (2,)),
]


def main():
    only = os.environ.get("LIBS_ONLY")
    passed = failed = 0
    for title, fn, protos in TESTS:
        if only and only not in title:
            continue
        for p in protos:
            label = f"{title} (RESP{p})"
            try:
                fn(p)
                passed += 1
                print(f"ok   {label}", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {label}\n{traceback.format_exc()}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
