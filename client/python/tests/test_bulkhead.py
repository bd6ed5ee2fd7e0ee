"""Bulkhead over SEMAPHORE: skipped (by asking the live server) until it has SEMAPHORE."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, List

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fencepost import Bulkhead, BulkheadFull


@pytest.mark.usefixtures("semaphore")
def test_bulkhead_limits_concurrency(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    bh = Bulkhead(client, uniq("bh"), 2, ttl_ms=5000)
    running: List[int] = []
    peak: List[int] = []
    refused: List[int] = []

    @bh
    def work() -> None:
        running.append(1)
        peak.append(len(running))
        time.sleep(0.4)
        running.pop()

    def attempt() -> None:
        try:
            work()
        except BulkheadFull:
            refused.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert max(peak) <= 2 and len(refused) == 3
    with bh as permit:
        assert permit.token > 0
    with bh, bh, pytest.raises(BulkheadFull), bh:
        pass


@pytest.mark.usefixtures("semaphore")
def test_bulkhead_waits(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("bhw")
    held = Bulkhead(client, name, 1, ttl_ms=5000)
    waiting = Bulkhead(client, name, 1, ttl_ms=5000, wait_ms=3000)
    p = held.acquire()
    threading.Timer(0.3, lambda: held.release(p)).start()
    t0 = time.monotonic()
    with waiting:
        assert time.monotonic() - t0 >= 0.25


@pytest.mark.usefixtures("semaphore")
async def test_bulkhead_async(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    bh = fencepost.aio.Bulkhead(aclient, uniq("abh"), 1, ttl_ms=5000)

    @bh
    async def work() -> int:
        await asyncio.sleep(0.3)
        return 1

    results = await asyncio.gather(work(), work(), return_exceptions=True)
    assert results.count(1) == 1 and any(isinstance(r, BulkheadFull) for r in results)
    async with bh as permit:
        assert permit.token > 0


@pytest.mark.usefixtures("semaphore")
async def test_sync_bulkhead_on_async_function(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    bh = Bulkhead(client, uniq("sbh"), 1)

    @bh
    async def work() -> int:
        return 2

    assert await work() == 2


def test_bulkhead_unknown_command_is_reported(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    # Whatever the server has, the error class is honest: UnknownCommand on an older
    # server, a permit on a newer one; never a silent pass.
    bh = Bulkhead(client, uniq("bhp"), 1)
    try:
        p = bh.acquire()
    except fencepost.UnknownCommand:
        return
    assert p.token > 0 and bh.release(p)
