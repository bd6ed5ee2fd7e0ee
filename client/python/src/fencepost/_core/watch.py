"""One LOCK WATCH call as both twins make it: a deadline cut into WAIT-sized chunks that
the socket timeout allows, riding through transient errors until the deadline."""

from __future__ import annotations

import time
from typing import Any, Optional

from . import backoff, commands, errmap, replies
from .lease import wait_chunk_ms


class Watch:
    """The state of one watch_lock: what to send next, and whether an answer ends it."""

    def __init__(self, name: str, token: int, timeout_ms: int, socket_timeout_s: Optional[float]) -> None:
        self.name = name
        self.token = token
        self.deadline = time.monotonic() + timeout_ms / 1000
        self.chunk = wait_chunk_ms(socket_timeout_s)
        self.attempt = 0

    def args(self) -> commands.Args:
        """The next LOCK WATCH, its timeout the rest of the deadline or a chunk."""
        left = max(0, int((self.deadline - time.monotonic()) * 1000))
        return commands.lock_watch(self.name, self.token, min(left, self.chunk))

    def answer(self, reply: Any) -> tuple[bool, Optional[replies.LockInfo]]:
        """(done, the lock as it stands): done once the holder changed or time is up."""
        info = replies.lock_info(reply)
        return replies.watch_changed(info, self.token) or self.expired(), info

    def pause_after(self, err: BaseException) -> Optional[float]:
        """Seconds to sleep before resending after `err`; None when it may not ride."""
        if not errmap.transient(err) or self.expired():
            return None
        self.attempt += 1
        return backoff.full_jitter(self.attempt - 1, 0.05, 1.0)

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline
