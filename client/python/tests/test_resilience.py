"""retry and circuit_breaker on sync and async functions, stacked; ClusterDown from a
real cluster that lost its quorum."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator, List

import pytest
import redis

import fencepost
from fencepost import (
    CircuitOpen,
    ClusterDown,
    ConnectionLost,
    StaleToken,
    Uncertain,
    circuit_breaker,
    retry,
)
from fpcluster import Cluster, free_ports


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[Cluster]:
    """A cluster of its own: this module takes its quorum away."""
    c = Cluster(3)
    try:
        yield c
    finally:
        c.stop()


def test_retry_rides_out_a_lost_quorum(small_cluster: Cluster) -> None:
    leader = small_cluster.leader()
    survivor = next(i for i in small_cluster.nodes if i != leader)
    down = [i for i in small_cluster.nodes if i != survivor]
    for i in down:
        small_cluster.nodes[i].kill()
    c = fencepost.connect(small_cluster.nodes[survivor].addr, socket_timeout=10)
    seen: List[BaseException] = []

    # A user's function sending plain commands: redis-py's ClusterDownError is what
    # retry sees, and it classifies it as fencepost's ClusterDown.
    @retry(max_attempts=40, base_delay=0.1, max_delay=0.5)
    def take() -> object:
        try:
            return c.execute_command("LOCK", "ACQUIRE", "quorum", "me", 5000)  # type: ignore[no-untyped-call]
        except redis.exceptions.ClusterDownError as e:
            seen.append(e)
            if len(seen) == 2:
                for i in down:  # heal once the outage has been seen twice
                    small_cluster.nodes[i].start()
            raise

    try:
        with pytest.raises(redis.exceptions.ClusterDownError):
            retry(max_attempts=1)(lambda: c.execute_command("LOCK", "INFO", "q"))()  # type: ignore[no-untyped-call]
        assert isinstance(take(), int)
        assert len(seen) >= 2, "the lock was taken only after CLUSTERDOWN answers were retried"
    finally:
        c.close()
        for i in down:
            if not small_cluster.nodes[i].alive():
                small_cluster.nodes[i].start()
        try:
            small_cluster.leader(timeout=30)
        except AssertionError:
            print(small_cluster.logs())
            raise


def test_retry_classification_in_use() -> None:
    calls: List[int] = []

    @retry(max_attempts=3, base_delay=0.01)
    def uncertain() -> None:
        calls.append(1)
        raise Uncertain("UNCERTAIN leader lost")

    with pytest.raises(Uncertain):
        uncertain()
    assert len(calls) == 1, "UNCERTAIN is not resent unless idempotent=True"

    @retry(max_attempts=3, base_delay=0.01, idempotent=True)
    def uncertain_idem() -> int:
        calls.append(2)
        if calls.count(2) < 3:
            raise ConnectionLost("Connection closed by server.")
        return 7

    assert uncertain_idem() == 7 and calls.count(2) == 3

    @retry(max_attempts=5, base_delay=0.01, idempotent=True)
    def stale() -> None:
        calls.append(3)
        raise StaleToken("STALE r token 1 < 2")

    with pytest.raises(StaleToken):
        stale()
    assert calls.count(3) == 1, "other errors are never retried"


def test_retry_refused_before_send() -> None:
    dead = fencepost.connect(f"127.0.0.1:{free_ports(1)[0]}")
    calls: List[int] = []

    @retry(max_attempts=3, base_delay=0.01)
    def ping() -> object:
        calls.append(1)
        return dead.ping()

    with pytest.raises(Exception) as e:
        ping()
    assert fencepost._core.errmap.sent_nothing(e.value)
    assert len(calls) == 3


async def test_retry_async() -> None:
    calls: List[int] = []

    @retry(max_attempts=4, base_delay=0.01)
    async def f() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ClusterDown("CLUSTERDOWN no leader")
        return "ok"

    assert await f() == "ok" and len(calls) == 3


def test_breaker_opens_half_opens_and_closes() -> None:
    state = {"fail": True, "calls": 0}
    cb = circuit_breaker(failure_threshold=2, recovery_timeout=0.3, name="local-sync")

    @cb
    def call() -> str:
        state["calls"] += 1
        if state["fail"]:
            raise RuntimeError("down")
        return "up"

    for _ in range(2):
        with pytest.raises(RuntimeError):
            call()
    assert cb.state() == "open"
    with pytest.raises(CircuitOpen) as e:
        call()
    assert state["calls"] == 2 and 0 < e.value.retry_after_s <= 0.3
    time.sleep(0.35)
    assert cb.state() == "half-open"
    with pytest.raises(RuntimeError):
        call()  # the trial fails: open again
    assert cb.state() == "open"
    time.sleep(0.35)
    state["fail"] = False
    assert call() == "up" and cb.state() == "closed"


async def test_breaker_async_and_stacked_with_retry() -> None:
    attempts: List[int] = []
    cb = circuit_breaker(failure_threshold=2, recovery_timeout=60)

    @cb
    @retry(max_attempts=3, base_delay=0.01)
    async def call() -> None:
        attempts.append(1)
        raise ClusterDown("CLUSTERDOWN no leader")

    for _ in range(2):
        with pytest.raises(ClusterDown):
            await call()
    assert len(attempts) == 6, "retry inside: the breaker counts one failure per call"
    with pytest.raises(CircuitOpen):
        await call()
    assert len(attempts) == 6
    assert await cb.astate() == "open"
    assert cb.name is not None and cb.name.endswith("call")


def test_breaker_exclude_and_cancel() -> None:
    cb = circuit_breaker(failure_threshold=1, recovery_timeout=60, exclude=(KeyError,))

    @cb
    def lookup() -> None:
        raise KeyError("not a failure of the callee")

    for _ in range(3):
        with pytest.raises(KeyError):
            lookup()
    assert cb.state() == "closed"

    async def run() -> None:
        @cb
        async def slow() -> None:
            await asyncio.sleep(10)

        t = asyncio.ensure_future(slow())
        await asyncio.sleep(0.05)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    asyncio.run(run())
    assert cb.state() == "closed", "cancellation is not the callee's failure"
