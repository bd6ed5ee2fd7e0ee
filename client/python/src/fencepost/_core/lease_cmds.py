"""The argument lists a lease object sends: LOCK's, or RWLOCK's for a read-write lock's
halves. Mixed into both Lock twins, so the twins differ only in how they await."""

from __future__ import annotations

from typing import Optional

from . import commands


class LockCommands:
    """LOCK ACQUIRE / EXTEND / RELEASE for the lease's name, owner and ttl."""

    name: str
    ttl_ms: int
    delay_ms: Optional[int]
    _owner: str

    def _acquire_args(self, wait: Optional[int]) -> commands.Args:
        return commands.lock_acquire(self.name, self._owner, self.ttl_ms, wait, self.delay_ms)

    def _extend_args(self, token: int, ttl_ms: int) -> commands.Args:
        return commands.lock_extend(self.name, self._owner, token, ttl_ms)

    def _release_args(self, token: int) -> commands.Args:
        return commands.lock_release(self.name, self._owner, token)


class RwLockCommands(LockCommands):
    """RWLOCK READ|WRITE / EXTEND / RELEASE; MODE is the half's acquire subcommand."""

    MODE = ""

    def _acquire_args(self, wait: Optional[int]) -> commands.Args:
        return commands.rwlock_acquire(self.MODE, self.name, self._owner, self.ttl_ms, wait)

    def _extend_args(self, token: int, ttl_ms: int) -> commands.Args:
        return commands.rwlock_extend(self.name, self._owner, token, ttl_ms)

    def _release_args(self, token: int) -> commands.Args:
        return commands.rwlock_release(self.name, self._owner, token)
