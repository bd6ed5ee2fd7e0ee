"""A breaker shared through fencepost: another process's failures open it here too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
from fencepost import CircuitOpen, circuit_breaker
from fpcluster import Cluster

OTHER = r"""
import json, sys
import fencepost
c = fencepost.connect(sys.argv[1].split(","))
cb = fencepost.circuit_breaker(3, recovery_timeout=float(sys.argv[3]), name=sys.argv[2], shared=c)
mode = sys.argv[4]

@cb
def call():
    if mode == "fail":
        raise RuntimeError("downstream down")
    return "ok"

out = []
for _ in range(int(sys.argv[5])):
    try:
        out.append(call())
    except RuntimeError:
        out.append("failed")
    except fencepost.CircuitOpen:
        out.append("open")
print(json.dumps({"results": out, "state": cb.state()}))
"""


def _other(cluster: Cluster, name: str, recovery: float, mode: str, n: int) -> Dict[str, object]:
    src = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))
    out = subprocess.run(
        [sys.executable, "-c", OTHER, ",".join(cluster.addrs), name, str(recovery), mode, str(n)],
        env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True, timeout=60, check=True,
    )
    result: Dict[str, object] = json.loads(out.stdout)
    return result


def test_one_process_opens_it_for_both(
    cluster: Cluster, client: redis.Redis, uniq: Callable[[str], str]
) -> None:
    name = uniq("breaker")
    calls: List[int] = []
    cb = circuit_breaker(3, recovery_timeout=1.5, name=name, shared=client)

    @cb
    def call() -> str:
        calls.append(1)
        return "ok"

    assert call() == "ok" and cb.state() == "closed"
    other = _other(cluster, name, 1.5, "fail", 4)
    assert other == {"results": ["failed", "failed", "failed", "open"], "state": "open"}
    with pytest.raises(CircuitOpen):
        call()
    assert len(calls) == 1, "the open breaker kept the call from running here"
    time.sleep(1.6)
    assert cb.state() == "half-open"
    assert call() == "ok", "this process's trial call closes it"
    assert _other(cluster, name, 1.5, "ok", 1) == {"results": ["ok"], "state": "closed"}


async def test_async_shared_breaker(
    cluster: Cluster, aclient: aioredis.Redis, uniq: Callable[[str], str]
) -> None:
    name = uniq("abreaker")
    cb = circuit_breaker(3, recovery_timeout=30, name=name, shared=aclient)

    @cb
    async def call() -> str:
        return "ok"

    assert await call() == "ok"
    _other(cluster, name, 30, "fail", 3)
    with pytest.raises(CircuitOpen):
        await call()
    assert await cb.astate() == "open"
    # A sync-client breaker of the same name sees the same state.
    sync_view = circuit_breaker(3, 30, name=name, shared=fencepost.connect(cluster.addrs))
    assert sync_view.state() == "open"
