"""What a fenced write needs from a lock: its name and the token of a live grant."""

from __future__ import annotations

from typing import Optional, Protocol, Tuple

from .. import errors


class Fenceable(Protocol):
    """Anything with a lock name and a token (both Lock twins)."""

    @property
    def token(self) -> Optional[int]: ...

    name: str


def token_of(lock: Fenceable) -> Tuple[str, int]:
    """(lock name, token), or LockNotAcquired if the lock was never granted."""
    token = lock.token
    if token is None:
        raise errors.LockNotAcquired(f"lock {lock.name!r} has no token: acquire it first")
    return lock.name, token


def lost_message(name: str, token: Optional[int], reason: str) -> str:
    """LockLost's text."""
    tail = f" ({reason})" if reason else ""
    return f"lock {name!r} token {token} was lost while held{tail}"
