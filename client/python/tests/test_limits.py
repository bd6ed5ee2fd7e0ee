"""TokenBucketLimiter and SlidingWindowLimiter, sync and async, on the cluster."""

from __future__ import annotations

import time
from typing import Callable

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fencepost import Decision, SlidingWindowLimiter, TokenBucketLimiter
from fencepost._core import limits as core_limits


def test_token_bucket(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    lim = TokenBucketLimiter(client, 3, 1, period_ms=1000)
    key = uniq("tb")
    got = [lim.check(key) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert got[0] == Decision(True, 3, 2, -1, got[0].reset_after_ms)
    assert got[3].remaining == 0 and 0 < got[3].retry_after_ms <= 1000
    assert not lim.is_allowed(key)
    assert lim.check(key, cost=0).limit == 3, "cost 0 peeks"
    with pytest.raises(fencepost.CommandError):
        lim.check(key, cost=4)


def test_token_bucket_fractional_rate(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    lim = TokenBucketLimiter(client, 2, 0.5)
    assert (lim.spec.refill, lim.spec.period_ms) == (1, 2000)
    key = uniq("tbf")
    assert lim.is_allowed(key) and lim.is_allowed(key) and not lim.is_allowed(key)


async def test_token_bucket_async(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    lim = fencepost.aio.TokenBucketLimiter(aclient, 2, 1, period_ms=60_000)
    key = uniq("atb")
    assert await lim.is_allowed(key)
    d = await lim.check(key)
    assert d.allowed and d.remaining == 0
    d = await lim.check(key)
    assert not d.allowed and d.retry_after_ms > 0


def _sliding_exact(lim: SlidingWindowLimiter, key: str) -> None:
    got = [lim.check(key) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got] == [2, 1, 0, 0]
    assert 0 < got[3].retry_after_ms <= 800 and got[3].reset_after_ms <= 800
    time.sleep(got[3].retry_after_ms / 1000 + 0.05)
    assert lim.is_allowed(key), "the oldest admission left the window"


def test_sliding_window(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    _sliding_exact(SlidingWindowLimiter(client, 3, 800), uniq("sw"))


def test_sliding_window_script_fallback(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    # Whatever the server has, the Lua fallback must give the same answers.
    core_limits.remember(client, False)
    lim = SlidingWindowLimiter(client, 3, 800)
    _sliding_exact(lim, uniq("swl"))
    with pytest.raises(fencepost.CommandError):
        lim.check(uniq("swl"), cost=4)


def test_sliding_window_cost(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    lim = SlidingWindowLimiter(client, 5, 10_000)
    key = uniq("swc")
    assert lim.check(key, cost=3).remaining == 2
    d = lim.check(key, cost=3)
    assert not d.allowed and d.remaining == 2
    assert lim.check(key, cost=2).allowed


async def test_sliding_window_async(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    lim = fencepost.aio.SlidingWindowLimiter(aclient, 2, 10_000)
    key = uniq("asw")
    assert await lim.is_allowed(key) and await lim.is_allowed(key)
    d = await lim.check(key)
    assert not d.allowed and d.limit == 2 and d.retry_after_ms > 0
