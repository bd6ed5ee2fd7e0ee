"""idempotent_execute and @idempotent, sync and async, on the cluster."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, Dict, List

import pytest
import redis
import redis.asyncio as aioredis

import fencepost.aio
from fencepost import IdempotencyInProgress, IdempotencyMismatch, idempotent, idempotent_execute
from fencepost._core import idemp


def test_runs_once_and_replays(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    key, runs = uniq("idem"), []

    def charge() -> Dict[str, Any]:
        runs.append(1)
        return {"charged": 100, "id": len(runs)}

    first = idempotent_execute(client, key, "charge", charge, fingerprint="100")
    again = idempotent_execute(client, key, "charge", charge, fingerprint="100")
    assert first == again == {"charged": 100, "id": 1} and len(runs) == 1
    with pytest.raises(IdempotencyMismatch):
        idempotent_execute(client, key, "charge", charge, fingerprint="200")
    with pytest.raises(IdempotencyMismatch):
        idempotent_execute(client, key, "refund", charge, fingerprint="100")


def test_pending_raises_in_progress(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    key = uniq("idem")
    started, finish = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        finish.wait(10)
        return "done"

    t = threading.Thread(target=lambda: idempotent_execute(client, key, "ep", slow))
    t.start()
    assert started.wait(5)
    with pytest.raises(IdempotencyInProgress) as e:
        idempotent_execute(client, key, "ep", lambda: "second")
    assert 0 < e.value.retry_after_ms <= 30_000
    finish.set()
    t.join(10)
    assert idempotent_execute(client, key, "ep", lambda: "second") == "done"


def test_errors_are_not_cached(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    key, calls = uniq("idem"), []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("downstream failed")
        return 42

    with pytest.raises(RuntimeError):
        idempotent_execute(client, key, "ep", flaky)
    assert idempotent_execute(client, key, "ep", flaky) == 42
    assert idempotent_execute(client, key, "ep", flaky) == 42 and len(calls) == 2


def test_lease_takeover(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    # A worker that died mid-claim: after its lease the next one runs.
    key = uniq("idem")
    client.execute_command("IDEMP", "BEGIN", key, idemp.fingerprint("ep", None),  # type: ignore[no-untyped-call]
                           60_000, "LEASE", 200)
    time.sleep(0.3)
    assert idempotent_execute(client, key, "ep", lambda: "taken over", lease_ms=5000) == "taken over"


def test_decorator(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    runs: List[int] = []

    @idempotent(client, lambda order_id, amount: f"order-{order_id}",
                fingerprint_func=lambda order_id, amount: str(amount))
    def place(order_id: str, amount: int) -> Dict[str, int]:
        runs.append(amount)
        return {"amount": amount}

    oid = uniq("o")
    assert place(oid, 5) == place(oid, 5) == {"amount": 5} and runs == [5]
    with pytest.raises(IdempotencyMismatch):
        place(oid, 6)


async def test_async_execute_and_decorator(aclient: aioredis.Redis, uniq: Callable[[str], str]) -> None:
    runs: List[int] = []

    async def work() -> List[int]:
        runs.append(1)
        await asyncio.sleep(0.3)
        return [1, 2]

    key = uniq("aidem")
    results = await asyncio.gather(
        *(fencepost.aio.idempotent_execute(aclient, key, "ep", work) for _ in range(5)),
        return_exceptions=True,
    )
    assert len(runs) == 1, "concurrent duplicates: exactly one runs"
    assert results.count([1, 2]) == 1
    assert all(isinstance(r, IdempotencyInProgress) for r in results if r != [1, 2])
    assert await fencepost.aio.idempotent_execute(aclient, key, "ep", work) == [1, 2]

    @fencepost.aio.idempotent(aclient, lambda x: f"k-{key}-{x}")
    async def double(x: int) -> int:
        runs.append(x)
        return 2 * x

    assert await double(21) == await double(21) == 42 and runs == [1, 21]
