"""One process-wide scheduler for sync lease renewals.

A thread per held lock costs a thread start on every acquire, which shows at thousands
of acquires a second; instead one daemon thread keeps a heap of due times and hands each
due renewal to a small pool, so a slow EXTEND (an election) never delays the others.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Optional, Tuple, TypeVar

POOL_WORKERS = 8
T = TypeVar("T")


class Ticket:
    """One scheduled renewal chain; cancel() stops it (lazily dropped from the heap).

    It holds its lock weakly: a Lock dropped without release() stops renewing, so its
    lease expires after the TTL instead of being kept alive forever.
    """

    __slots__ = ("_fn", "_ref", "cancelled")

    def __init__(self, obj: T, fn: Callable[[T, Ticket], None]) -> None:
        self.cancelled = False
        self._ref: Callable[[], Optional[Any]] = weakref.ref(obj)
        self._fn: Callable[[Any, Ticket], None] = fn

    def cancel(self) -> None:
        """No further run of this chain; a run already in flight sees the flag."""
        self.cancelled = True

    def fire(self) -> None:
        """One renewal, if the chain is live and its lock still exists."""
        obj = self._ref()
        if obj is not None and not self.cancelled:
            self._fn(obj, self)


class Renewer:
    """Fires each ticket when due, on a pool thread."""

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int, Ticket]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._pool: Optional[ThreadPoolExecutor] = None

    def schedule(self, ticket: Ticket, delay_s: float) -> None:
        """Fire the ticket after delay_s (unless cancelled by then)."""
        due = time.monotonic() + delay_s
        with self._cv:
            if self._thread is None:
                self._start()
            wake = not self._heap or due < self._heap[0][0]
            heapq.heappush(self._heap, (due, next(self._seq), ticket))
            if wake:
                self._cv.notify()

    def _start(self) -> None:
        self._pool = ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="fencepost-renew")
        self._thread = threading.Thread(target=self._loop, name="fencepost-renewer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cv.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        ticket = heapq.heappop(self._heap)[2]
                        break
                    self._cv.wait(wait)
            assert self._pool is not None
            self._pool.submit(ticket.fire)


_renewer = Renewer()


def _after_fork() -> None:
    # A forked child has none of the parent's threads: start afresh on first use.
    global _renewer
    _renewer = Renewer()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def schedule(ticket: Ticket, delay_s: float) -> None:
    """Schedule on the process-wide renewer."""
    _renewer.schedule(ticket, delay_s)
