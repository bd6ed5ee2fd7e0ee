"""A holder whose renewals are blocked (a paused process) loses the lease: LockLost on
exit, and its fenced write is refused with StaleToken once the next holder has written."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fencepost import Lock, LockLost, StaleToken, fenced_advance, fenced_set
from fpcluster import Cluster

HOLDER = r"""
import json, sys
import fencepost
c = fencepost.connect(sys.argv[1].split(","))
out = {}
try:
    with fencepost.Lock(c, sys.argv[2], ttl_ms=1000) as lock:
        print(json.dumps({"token": lock.token}), flush=True)
        sys.stdin.readline()  # paused (SIGSTOP) before this line arrives
        try:
            fencepost.fenced_set(c, sys.argv[3], lock, "from the paused holder")
            out["fenced"] = "ok"
        except fencepost.StaleToken as e:
            out["fenced"] = "StaleToken: %s" % e
        out["lost_flag"] = lock.lost
except fencepost.LockLost as e:
    out["exit"] = "LockLost: %s" % e
print(json.dumps(out), flush=True)
"""


def test_paused_process_gets_lock_lost_and_stale(
    cluster: Cluster, client: redis.Redis, uniq: Callable[[str], str]
) -> None:
    name, key = uniq("paused"), uniq("fenced")
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, ",".join(cluster.addrs), name, key],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert p.stdout is not None and p.stdin is not None
        old = json.loads(p.stdout.readline())["token"]
        os.kill(p.pid, signal.SIGSTOP)
        # The next holder waits in the queue and is granted when the lease runs out.
        nxt = Lock(client, name, ttl_ms=5000, wait_ms=5000)
        assert nxt.acquire() and nxt.token is not None and nxt.token > old
        fenced_set(client, key, nxt, "from the next holder")
        os.kill(p.pid, signal.SIGCONT)
        p.stdin.write("go\n")
        p.stdin.flush()
        out = json.loads(p.stdout.readline())
        assert out["fenced"].startswith("StaleToken"), out
        assert out["exit"].startswith("LockLost"), out
        assert client.execute_command("FENCE", "GET", key) == [nxt.token, b"from the next holder"]  # type: ignore[no-untyped-call]
        nxt.release()
    finally:
        os.kill(p.pid, signal.SIGCONT)
        p.kill()
        p.wait()


def test_fenced_writes_sync(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name, key, res = uniq("fl"), uniq("fk"), uniq("fr")
    with pytest.raises(fencepost.LockNotAcquired):
        fenced_set(client, key, Lock(client, name), "v")
    old = Lock(client, name, ttl_ms=300, auto_renew=False)
    assert old.acquire()
    fenced_set(client, key, old, "one")
    fenced_set(client, key, old, "two")  # equal tokens: one holder writes many times
    assert fenced_advance(client, res, old) == old.token
    time.sleep(0.4)
    new = Lock(client, name, ttl_ms=5000)
    assert new.acquire(blocking=False)
    fenced_set(client, key, new, "three")
    assert fenced_advance(client, res, new) == new.token
    with pytest.raises(StaleToken):
        fenced_set(client, key, old, "late")
    with pytest.raises(StaleToken):
        fenced_advance(client, res, old)
    new.release()


async def test_blocked_loop_holder_async(
    cluster: Cluster, aclient: aioredis.Redis, uniq: Callable[[str], str]
) -> None:
    # An event loop blocked by sync work cannot renew: the same as a paused process.
    name, key, res = uniq("aloop"), uniq("akey"), uniq("ares")
    holder = fencepost.aio.Lock(aclient, name, ttl_ms=600)
    other_token = []

    def next_holder() -> None:
        c = fencepost.connect(cluster.addrs)
        try:
            nxt = Lock(c, name, ttl_ms=5000, wait_ms=5000)
            assert nxt.acquire()
            fenced_set(c, key, nxt, "next")
            fenced_advance(c, res, nxt)
            other_token.append(nxt.token)
        finally:
            c.close()

    with pytest.raises(LockLost):
        async with holder:
            assert await fencepost.aio.fenced_advance(aclient, res, holder) == holder.token
            t = threading.Thread(target=next_holder)
            t.start()
            t.join(10)  # blocks the loop: no renewal runs
            assert other_token, "the next holder got the lock once the lease ran out"
            with pytest.raises(StaleToken):
                await fencepost.aio.fenced_set(aclient, key, holder, "stale")
            with pytest.raises(StaleToken):
                await fencepost.aio.fenced_advance(aclient, res, holder)
            await asyncio.sleep(0.3)  # the renewer runs, hears EXTEND answer 0
            assert holder.lost
