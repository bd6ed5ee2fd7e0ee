"""fencepost.Lock against the 3-node cluster."""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Callable, List

import pytest
import redis

import fencepost
from fencepost import Lock, LockLost, LockNotAcquired
from fpcluster import Cluster, free_ports


def test_acquire_release_and_token(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("lock")
    a, b = Lock(client, name, ttl_ms=5000), Lock(client, name, ttl_ms=5000)
    assert a.acquire() and a.token is not None and a.token > 0
    assert a.owner != b.owner
    assert 4000 < a.valid_for_ms() <= 4950, "ttl minus 1% drift, counted from the send"
    assert a.locked() and a.owned()
    assert not b.acquire(blocking=False) and b.token is None
    assert not b.owned()
    assert a.release()
    assert not a.release(), "a second release has nothing to release"
    assert not a.locked()
    assert b.acquire(blocking=False) and b.token is not None and b.token > a.token
    assert b.release()


def test_context_manager_and_not_acquired(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("lock")
    with Lock(client, name, ttl_ms=5000) as held:
        assert held.owned()
        with pytest.raises(LockNotAcquired), Lock(client, name, ttl_ms=5000, wait_ms=100):
            pass
    assert not Lock(client, name).locked()


def test_wait_is_granted_on_release_in_fifo_order(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("lock")
    first = Lock(client, name, ttl_ms=10_000)
    assert first.acquire()
    order: List[int] = []
    waiters = [Lock(client, name, ttl_ms=10_000, wait_ms=8000) for _ in range(3)]

    def wait(i: int) -> None:
        assert waiters[i].acquire()
        order.append(i)
        waiters[i].release()

    threads = []
    for i in range(3):
        t = threading.Thread(target=wait, args=(i,))
        t.start()
        threads.append(t)
        # The queue is FIFO by arrival: let each join before the next.
        time.sleep(0.3)
    first.release()
    for t in threads:
        t.join(15)
    assert order == [0, 1, 2]


def test_auto_renew_outlives_ttl(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    lock = Lock(client, uniq("lock"), ttl_ms=600)
    with lock:
        time.sleep(2.0)
        assert lock.owned() and not lock.lost
        assert lock.valid_for_ms() > 0


def test_no_renew_expires_and_exit_raises_lost(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("lock")
    lock = Lock(client, name, ttl_ms=300, auto_renew=False)
    with pytest.raises(LockLost), lock:
        time.sleep(0.6)
        assert lock.valid_for_ms() == 0
        assert Lock(client, name).acquire(blocking=False), "expired: another may take it"


def test_extend(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    lock = Lock(client, uniq("lock"), ttl_ms=300, auto_renew=False)
    assert lock.acquire()
    assert lock.extend(5000) and lock.valid_for_ms() > 4000
    time.sleep(0.5)
    assert lock.owned()
    lock.release()
    assert not lock.extend()


def test_extend_after_takeover_marks_lost(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    name = uniq("lock")
    lock = Lock(client, name, ttl_ms=200, auto_renew=False)
    assert lock.acquire()
    time.sleep(0.3)
    other = Lock(client, name, ttl_ms=5000)
    assert other.acquire(blocking=False)
    assert not lock.extend() and lock.lost
    other.release()


def test_renewal_answered_zero_sets_lost(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    # The renewer itself notices: someone else's grant makes EXTEND answer 0.
    name = uniq("lock")
    lock = Lock(client, name, ttl_ms=900)
    assert lock.acquire()
    # Release behind its back, as an operator (or an expiry) would.
    assert client.execute_command("LOCK", "RELEASE", name, lock.owner, lock.token) == 1  # type: ignore[no-untyped-call]
    assert fencepost.Lock(client, name, ttl_ms=5000).acquire(blocking=False)
    deadline = time.monotonic() + 3
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.lost
    with pytest.raises(LockLost):
        lock.__exit__(None, None, None)


def test_address_list_skips_a_dead_node(cluster: Cluster, uniq: Callable[[str], str]) -> None:
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    c = fencepost.connect([dead, *cluster.addrs])
    try:
        with Lock(c, uniq("lock"), ttl_ms=2000) as lock:
            assert lock.token
    finally:
        c.close()
    nobody = fencepost.connect([dead])
    with pytest.raises(fencepost.ConnectionRefused):
        Lock(nobody, "x").acquire(blocking=False)


def test_dropped_lock_stops_renewing(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    # A Lock garbage-collected while held must not keep its lease alive forever.
    name = uniq("lock")
    lock = Lock(client, name, ttl_ms=600)
    assert lock.acquire()
    del lock
    gc.collect()
    deadline = time.monotonic() + 5
    while not Lock(client, name).acquire(blocking=False):
        assert time.monotonic() < deadline, "the dropped lock's lease never expired"
        time.sleep(0.1)


def test_renewal_in_a_forked_child(cluster: Cluster, client: redis.Redis, uniq: Callable[[str], str]) -> None:
    # The renewer thread does not survive fork(); the child must start its own.
    name = uniq("lock")
    warm = Lock(client, "warm-" + name, ttl_ms=600)
    assert warm.acquire()  # the parent's renewer is running
    pid = os.fork()
    if pid == 0:  # child: hold across several TTLs, exit 0 if still the holder
        code = 1
        try:
            lock = Lock(fencepost.connect(cluster.addrs), name, ttl_ms=600)
            if lock.acquire():
                time.sleep(2.0)
                code = 0 if lock.owned() and lock.release() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    warm.release()
    assert os.WEXITSTATUS(status) == 0
