"""fencepost.aio.Lock (and its RedisLock alias) against the 3-node cluster."""

from __future__ import annotations

import asyncio
import gc
from typing import Callable, List

import pytest
import redis.asyncio as aioredis

from fencepost import LockLost, LockNotAcquired
from fencepost.aio import Lock, RedisLock


async def test_acquire_release_and_token(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    assert RedisLock is Lock
    name = uniq("alock")
    a, b = Lock(aclient, name, ttl_ms=5000), RedisLock(aclient, name, ttl_ms=5000)
    assert await a.acquire() and a.token
    assert 4000 < a.valid_for_ms() <= 4950
    assert await a.locked() and await a.owned()
    assert not await b.acquire(blocking=False)
    assert await a.release()
    assert await b.acquire(blocking=False) and b.token and b.token > a.token
    assert await b.release()


async def test_context_manager(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("alock")
    async with Lock(aclient, name, ttl_ms=5000) as held:
        assert await held.owned()
        with pytest.raises(LockNotAcquired):
            async with Lock(aclient, name, wait_ms=100):
                pass


async def test_wait_fifo(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("alock")
    first = Lock(aclient, name, ttl_ms=10_000)
    assert await first.acquire()
    order: List[int] = []

    async def wait(i: int) -> None:
        lock = Lock(aclient, name, ttl_ms=10_000, wait_ms=8000)
        assert await lock.acquire()
        order.append(i)
        await lock.release()

    tasks = []
    for i in range(3):
        tasks.append(asyncio.ensure_future(wait(i)))
        await asyncio.sleep(0.3)
    await first.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 15)
    assert order == [0, 1, 2]


async def test_auto_renew_outlives_ttl(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    lock = Lock(aclient, uniq("alock"), ttl_ms=600)
    async with lock:
        await asyncio.sleep(2.0)
        assert await lock.owned() and not lock.lost


async def test_extend_and_expiry(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("alock")
    lock = Lock(aclient, name, ttl_ms=300, auto_renew=False)
    assert await lock.acquire()
    assert await lock.extend(600)
    with pytest.raises(LockLost):
        async with Lock(aclient, name, ttl_ms=300, auto_renew=False, owner=lock.owner) as again:
            assert again.token == lock.token, "same owner re-acquires with the same token"
            await asyncio.sleep(0.6)
            assert await Lock(aclient, name).acquire(blocking=False)


async def test_dropped_lock_stops_renewing(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("alock")
    lock = Lock(aclient, name, ttl_ms=600)
    assert await lock.acquire()
    del lock
    gc.collect()
    for _ in range(50):
        if await Lock(aclient, name).acquire(blocking=False):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the dropped lock's lease never expired")
