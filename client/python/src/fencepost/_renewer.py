"""One process-wide scheduler for sync lease renewals.

A thread per held lock costs a thread start on every acquire, which shows at thousands
of acquires a second; instead one daemon thread keeps a heap of due times and hands each
due renewal to a small pool, so a slow EXTEND (an election) never delays the others.

The thread wakes in batches. A released lock's ticket stays in the heap until it falls
due (removing it at once would cost O(n) on every release), so at thousands of lock
cycles a second the head of the heap is a cancelled ticket due a fraction of a
millisecond after the previous one; waking for each took the GIL from the caller once
a cycle. Instead a ticket may fire up to WINDOW_S before it is due, and a wake-up that
finds only cancelled tickets sleeps a whole window: at most about 1/WINDOW_S wake-ups
a second, however many locks cycle, and a renewal fires at worst WINDOW_S early, never
late. A delay under 4 * WINDOW_S (a lease under 0.6 s) gets no window, and while such
a ticket is in the heap the thread wakes exactly on time, as it did before.
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
# How early a renewal may fire so that wake-ups batch (see the module's doc).
WINDOW_S = 0.05
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
        # (earliest fire time, sequence, ticket, exact): a ticket may fire from its due
        # time minus WINDOW_S, or exactly on time when `exact`.
        self._heap: List[Tuple[float, int, Ticket, bool]] = []
        # Tickets in the heap that must fire exactly on time.
        self._exact = 0
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._pool: Optional[ThreadPoolExecutor] = None

    def schedule(self, ticket: Ticket, delay_s: float) -> None:
        """Fire the ticket after delay_s (unless cancelled by then)."""
        exact = delay_s < 4 * WINDOW_S
        earliest = time.monotonic() + delay_s - (0.0 if exact else WINDOW_S)
        with self._cv:
            if self._thread is None:
                self._start()
            wake = not self._heap or earliest < self._heap[0][0]
            heapq.heappush(self._heap, (earliest, next(self._seq), ticket, exact))
            self._exact += exact
            if wake:
                self._cv.notify()

    def _start(self) -> None:
        self._pool = ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="fencepost-renew")
        self._thread = threading.Thread(target=self._loop, name="fencepost-renewer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            ready: List[Ticket] = []
            with self._cv:
                while not ready:
                    if not self._heap:
                        self._cv.wait()
                        continue
                    now = time.monotonic()
                    if self._heap[0][0] > now:
                        self._cv.wait(self._heap[0][0] - now)
                        continue
                    # Everything whose window has opened, live or cancelled, in one go.
                    while self._heap and self._heap[0][0] <= now:
                        _, _, ticket, exact = heapq.heappop(self._heap)
                        self._exact -= exact
                        if not ticket.cancelled:
                            ready.append(ticket)
                    if not ready and self._exact == 0:
                        # Only cancelled tickets: sleep a whole window before looking
                        # again, so a stream of released locks costs one wake-up per
                        # window, not one per lock. A windowed ticket falling due in
                        # the meantime fires at worst on time.
                        self._cv.wait(WINDOW_S)
            assert self._pool is not None
            for ticket in ready:
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
