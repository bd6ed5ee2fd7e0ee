"""A held lock keeps renewing while the leader is killed (SIGKILL) and another is elected.

During the election a follower's proxy may answer -CLUSTERDOWN / -UNCERTAIN, or the
connection to the dead leader drops; renewal rides through those (EXTEND is idempotent)."""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fencepost._core.replies import lock_info
from fpcluster import Cluster


def _kill_leader_and_heal(cluster: Cluster, hold: float, check: Callable[[], None]) -> None:
    leader = cluster.leader()
    cluster.nodes[leader].kill()
    try:
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            check()
            time.sleep(0.2)
        new = cluster.leader()
        assert new != leader
    finally:
        cluster.nodes[leader].start()
        cluster.leader(timeout=30)


def test_lock_renews_across_leader_kill(cluster: Cluster, uniq: Callable[[str], str]) -> None:
    # A client that knows every node, connected first to the leader that will die.
    leader = cluster.leader()
    order = [cluster.nodes[leader].addr, *(a for a in cluster.addrs if a != cluster.nodes[leader].addr)]
    c = fencepost.connect(order, socket_timeout=5)
    probe = fencepost.connect(cluster.addrs, socket_timeout=5)
    lock = fencepost.Lock(c, uniq("failover"), ttl_ms=3000)
    try:
        assert lock.acquire()
        token = lock.token

        def check() -> None:
            assert not lock.lost, "a leader change must not cost the lease"

        # Three TTLs: several renewals must succeed on the new leader.
        _kill_leader_and_heal(cluster, 9.0, check)
        assert not lock.lost and lock.valid_for_ms() > 0
        info = lock_info(probe.execute_command("LOCK", "INFO", lock.name))  # type: ignore[no-untyped-call]
        assert info is not None and info.token == token and info.owner == lock.owner
        assert lock.release()
    finally:
        c.close()
        probe.close()


async def test_async_lock_renews_across_leader_kill(cluster: Cluster, uniq: Callable[[str], str]) -> None:
    leader = cluster.leader()
    order = [cluster.nodes[leader].addr, *(a for a in cluster.addrs if a != cluster.nodes[leader].addr)]
    c: aioredis.Redis = fencepost.aio.connect(order, socket_timeout=5)
    lock = fencepost.aio.Lock(c, uniq("afailover"), ttl_ms=3000)
    try:
        assert await lock.acquire()
        token = lock.token
        loop = asyncio.get_running_loop()
        # The kill and the wait run in a thread so the renewal task keeps the loop.
        await loop.run_in_executor(None, _kill_leader_and_heal, cluster, 9.0, lambda: None)
        assert not lock.lost and lock.valid_for_ms() > 0
        assert await lock.owned() and lock.token == token
        assert await lock.release()
    finally:
        await c.aclose()

