"""A lock lease as the client knows it: token, validity clock, renewal schedule, lost flag.

Both Lock twins hold one `Lease` and ask it what to do; only the awaiting differs.
"""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Optional, Tuple

from . import errmap

# SPEC "Time": a node's monotonic clock runs within 1% of real time.
DRIFT = 0.01
# Re-acquiring after a WAIT chunk ends loses the FIFO place, so chunks are as long as the
# socket timeout allows; this is the cap when the client has no timeout.
MAX_WAIT_CHUNK_MS = 30_000
# How long a transient error (election, node down) may be ridden through by ACQUIRE
# when the caller gave no longer wait.
TRANSIENT_BUDGET_MS = 10_000


_prefix: Tuple[int, str] = (0, "")
_counter = itertools.count(1)


def default_owner() -> str:
    """host:pid:random:n, unique per Lock object so two Locks in one process never share.

    The random part is drawn once per process (again after a fork, by pid), so making an
    owner costs a counter step, not a uuid per acquire.
    """
    global _prefix
    pid = os.getpid()
    if _prefix[0] != pid:
        _prefix = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:12]}")
    return f"{_prefix[1]}:{next(_counter)}"


def wait_chunk_ms(socket_timeout_s: Optional[float]) -> int:
    """Longest WAIT one ACQUIRE may carry without the read timing out first."""
    if socket_timeout_s is None:
        return MAX_WAIT_CHUNK_MS
    return max(50, min(MAX_WAIT_CHUNK_MS, int(socket_timeout_s * 1000) - 1000))


@dataclass
class Lease:
    """One acquisition's state; times are the local monotonic clock in seconds."""

    token: Optional[int] = None
    ttl_ms: int = 0
    sent_at: float = 0.0
    held: bool = False
    lost: bool = False
    lost_reason: str = ""

    def granted(self, token: int, sent_at: float, ttl_ms: int) -> None:
        """ACQUIRE answered a token; the lease runs from when it was SENT."""
        self.token, self.sent_at, self.ttl_ms = token, sent_at, ttl_ms
        self.held, self.lost, self.lost_reason = True, False, ""

    def renewed(self, sent_at: float, ttl_ms: int) -> None:
        """EXTEND answered 1."""
        self.sent_at, self.ttl_ms = sent_at, ttl_ms

    def mark_lost(self, reason: str) -> None:
        """The lease is gone (or can no longer be vouched for); sticky until the next grant."""
        if self.held:
            self.lost, self.lost_reason = True, reason

    def valid_for_ms(self, now: float) -> int:
        """Milliseconds the lease is surely still ours: ttl since send, minus the drift margin."""
        if not self.held or self.lost:
            return 0
        left = self.ttl_ms * (1.0 - DRIFT) - (now - self.sent_at) * 1000.0
        return max(0, int(left))

    def renew_delay_s(self) -> float:
        """Renew at a third of the TTL, so two renewals can fail before the lease ends."""
        return self.ttl_ms / 3000.0

    def retry_delay_s(self, now: float) -> float:
        """After a transient renewal failure: retry soon, well inside what validity remains."""
        return max(0.01, min(self.ttl_ms / 10000.0, 0.5, self.valid_for_ms(now) / 4000.0))

    def after_extend(self, ok: bool, sent_at: float, ttl_ms: int) -> bool:
        """Record EXTEND's answer; True while the lease is still ours."""
        if ok:
            self.renewed(sent_at, ttl_ms)
            return True
        self.mark_lost("LOCK EXTEND answered 0: no longer the holder")
        return False

    def released(self, ok: bool, ambiguous: bool) -> bool:
        """RELEASE's answer as release() reports it.

        A resend after an ambiguous RELEASE answers 0 if the first one applied, so 0 then
        counts as released unless the lease was already known lost.
        """
        return ok or (ambiguous and not self.lost)

    def after_renew_error(self, exc: BaseException, now: float) -> bool:
        """Record a failed EXTEND; True when renewal should go on (retry soon)."""
        if not errmap.transient(exc):
            self.mark_lost(f"renewal failed: {exc!r}")
            return False
        if self.valid_for_ms(now) <= 0:
            self.mark_lost(f"lease ran out while renewals failed: {exc!r}")
            return False
        return True


def next_wait(blocking: bool, budget_ms: Optional[int], elapsed_ms: int, chunk_ms: int) -> Optional[int]:
    """WAIT for the next ACQUIRE: none when not blocking, else what is left of the budget,
    at most one chunk."""
    if not blocking:
        return None
    if budget_ms is None:
        return chunk_ms
    left = min(chunk_ms, budget_ms - elapsed_ms)
    return left if left > 0 else None


def may_ride(blocking: bool, budget_ms: Optional[int], elapsed_ms: int) -> bool:
    """Whether a transient ACQUIRE error may be retried (ACQUIRE is idempotent per owner)."""
    if blocking and budget_ms is None:
        return True
    return elapsed_ms < max(budget_ms or 0, TRANSIENT_BUDGET_MS)


def give_up(blocking: bool, budget_ms: Optional[int], elapsed_ms: int) -> bool:
    """After a nil ACQUIRE: stop unless blocking with budget left."""
    if not blocking:
        return True
    return budget_ms is not None and elapsed_ms >= budget_ms
