"""ReadWriteLock, lock delay and watch_lock (sync and async) against the 3-node cluster."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, List, Optional

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fencepost import Lock, ReadWriteLock, StaleToken, fenced_set, watch_lock
from fencepost._core.replies import LockInfo
from fpcluster import Cluster


def test_readers_share_and_the_writer_fences(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    rw = ReadWriteLock(client, uniq("rw"), ttl_ms=5000)
    r1, r2, w = rw.read(), rw.read(), rw.write()
    assert r1.acquire(blocking=False) and r2.acquire(blocking=False), "readers share"
    info = rw.info()
    assert info is not None and info.mode == "read" and info.holders == 2
    assert r1.locked() and not w.owned()
    assert not w.acquire(blocking=False), "a writer waits for the readers"
    assert r1.release() and r2.release()
    assert w.acquire(blocking=False) and w.token is not None
    assert r1.token is not None and r2.token is not None and w.token > max(r1.token, r2.token)
    assert w.owned()
    info = rw.info()
    assert info is not None and info.mode == "write" and info.token == w.token
    key = uniq("rw-key")
    fenced_set(client, key, w, "v1")
    assert not rw.read().acquire(blocking=False), "no reader beside the writer"
    assert w.release()
    w2 = rw.write()
    assert w2.acquire(blocking=False)
    with pytest.raises(StaleToken):
        fenced_set(client, key, w, "late")
    fenced_set(client, key, w2, "v2")
    assert w2.release()
    assert rw.info() is None


def test_a_queued_writer_holds_back_later_readers(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    rw = ReadWriteLock(client, uniq("rw"), ttl_ms=10_000, wait_ms=8000)
    first = rw.read()
    assert first.acquire()
    writer = rw.write()
    got: List[Optional[int]] = []
    t = threading.Thread(target=lambda: got.append(writer.token if writer.acquire() else None))
    t.start()
    deadline = time.monotonic() + 5
    while (i := rw.info()) is None or i.waiters < 1:
        assert time.monotonic() < deadline, "the writer never queued"
        time.sleep(0.02)
    assert not rw.read().acquire(blocking=False), "a reader arriving after a queued writer waits"
    assert first.release()
    t.join(10)
    assert got and got[0] is not None and writer.owned()
    with writer:
        pass


def test_rw_leases_are_renewed(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    rw = ReadWriteLock(client, uniq("rw"), ttl_ms=600)
    with rw.write() as w:
        time.sleep(1.5)
        assert w.owned() and not w.lost, "renewed past twice its ttl"
    r = rw.read(owner="reader-a")
    with r:
        time.sleep(1.5)
        assert r.extend() and not r.lost
    assert rw.info() is None


def test_lock_delay_follows_expiry_not_release(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("delay")
    released = Lock(client, name, ttl_ms=5000, delay_ms=3000, auto_renew=False)
    assert released.acquire() and released.release()
    assert Lock(client, name, ttl_ms=5000).acquire(blocking=False), "a RELEASE leaves no delay"
    name = uniq("delay")
    crashed = Lock(client, name, ttl_ms=200, delay_ms=1500, auto_renew=False)
    assert crashed.acquire()
    expired_by = time.monotonic() + 0.2
    time.sleep(0.5)
    nxt = Lock(client, name, ttl_ms=5000, wait_ms=5000)
    assert not nxt.acquire(blocking=False), "within the delay after an expiry nobody gets it"
    assert nxt.acquire(), "granted once the delay is over"
    assert time.monotonic() >= expired_by + 1.0, "not before (most of) the delay passed"
    nxt.release()


def test_watch_lock_sees_each_change(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("watch")
    assert watch_lock(client, name, 0, timeout_ms=200) is None, "free at the timeout"
    holder = Lock(client, name, ttl_ms=5000)
    seen: List[Optional[LockInfo]] = []
    t = threading.Thread(target=lambda: seen.append(watch_lock(client, name, 0, timeout_ms=8000)))
    t.start()
    time.sleep(0.3)
    assert holder.acquire()
    t.join(10)
    assert seen and seen[0] is not None and seen[0].token == holder.token and seen[0].owner == holder.owner
    token = holder.token
    assert token is not None
    still = watch_lock(client, name, token, timeout_ms=200)
    assert still is not None and still.token == token, "at the timeout, the lock as it stands"
    threading.Timer(0.3, holder.release).start()
    assert watch_lock(client, name, token, timeout_ms=8000) is None, "the release is seen"


def test_watch_lock_outlasts_the_socket_timeout(cluster: Cluster, uniq: Callable[[str], str]) -> None:
    # A 1.5 s socket timeout leaves 500 ms per LOCK WATCH: the wait spans several.
    short = fencepost.connect(cluster.addrs, socket_timeout=1.5)
    try:
        name = uniq("watch")
        holder = Lock(short, name, ttl_ms=10_000)
        assert holder.acquire() and holder.token is not None
        threading.Timer(2.0, holder.release).start()
        start = time.monotonic()
        assert watch_lock(short, name, holder.token, timeout_ms=8000) is None
        assert time.monotonic() - start >= 1.5, "returned only once the holder changed"
    finally:
        short.close()


async def test_async_rwlock_delay_and_watch(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    rw = fencepost.aio.ReadWriteLock(aclient, uniq("arw"), ttl_ms=5000)
    r1, r2, w = rw.read(), rw.read(), rw.write()
    assert await r1.acquire(blocking=False) and await r2.acquire(blocking=False)
    assert not await w.acquire(blocking=False)
    assert await r1.locked()
    assert await r1.release() and await r2.release()
    async with rw.write() as held:
        assert await held.owned()
        info = await rw.info()
        assert info is not None and info.mode == "write" and info.token == held.token
    assert await rw.info() is None

    name = uniq("awatch")
    holder = fencepost.aio.Lock(aclient, name, ttl_ms=200, delay_ms=1000, auto_renew=False)
    watcher = asyncio.ensure_future(fencepost.aio.watch_lock(aclient, name, 0, timeout_ms=8000))
    await asyncio.sleep(0.2)
    assert await holder.acquire()
    seen = await watcher
    assert seen is not None and seen.token == holder.token
    assert holder.token is not None
    gone = await fencepost.aio.watch_lock(aclient, name, holder.token, timeout_ms=8000)
    assert gone is None, "the expiry is seen"
    assert not await fencepost.aio.Lock(aclient, name).acquire(blocking=False), "lock delay"
