"""Fixtures: one 3-node cluster for the session (from $FENCEPOST_BIN), clients on it."""

from __future__ import annotations

import uuid
from typing import AsyncIterator, Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fpcluster import Cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster(3)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def client(cluster: Cluster) -> Iterator[redis.Redis]:
    c = fencepost.connect(cluster.addrs, socket_timeout=10)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
async def aclient(cluster: Cluster) -> AsyncIterator[aioredis.Redis]:
    c = fencepost.aio.connect(cluster.addrs, socket_timeout=10)
    try:
        yield c
    finally:
        await c.aclose()


@pytest.fixture
def uniq() -> Callable[[str], str]:
    """Fresh names, so tests sharing the cluster never meet."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


def server_has(cluster: Cluster, *probe: str) -> bool:
    """Ask the live server whether it knows a command (its answer, not an assumption)."""
    r = fencepost.connect(cluster.addrs)
    try:
        r.execute_command(*probe)  # type: ignore[no-untyped-call]
        return True
    except redis.ResponseError as e:
        return not str(e).lower().startswith("unknown command")
    finally:
        r.close()


@pytest.fixture
def semaphore(cluster: Cluster) -> None:
    """Skips the test while the server has no SEMAPHORE (SPEC "More coordination")."""
    if not server_has(cluster, "SEMAPHORE", "INFO", "fencepost-probe"):
        pytest.skip("server lacks SEMAPHORE (SPEC 'More coordination' not implemented yet)")
