"""ReadWriteLock for redis.asyncio clients: the twin of fencepost.ReadWriteLock."""

from __future__ import annotations

from typing import Optional

from redis.exceptions import RedisError

from .._core import commands, errmap, replies
from .._core.lease_cmds import RwLockCommands
from .._types import AsyncClient
from .locks import Lock


class ReadWriteLock:
    """Many readers or one writer under `name`, in one FIFO queue; `read()` and `write()`
    make a new lease each call, used like aio.Lock (`async with rw.write() as w:`)."""

    def __init__(
        self,
        client: AsyncClient,
        name: str,
        *,
        ttl_ms: int = 30000,
        wait_ms: Optional[int] = None,
        auto_renew: bool = True,
    ) -> None:
        self.client = client
        self.name = name
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self.auto_renew = auto_renew

    def read(self, owner: Optional[str] = None) -> ReadLock:
        """A shared lease (not yet acquired)."""
        return ReadLock(self.client, self.name, ttl_ms=self.ttl_ms, wait_ms=self.wait_ms,
                        owner=owner, auto_renew=self.auto_renew)

    def write(self, owner: Optional[str] = None) -> WriteLock:
        """An exclusive lease (not yet acquired)."""
        return WriteLock(self.client, self.name, ttl_ms=self.ttl_ms, wait_ms=self.wait_ms,
                         owner=owner, auto_renew=self.auto_renew)

    async def info(self) -> Optional[replies.RwLockInfo]:
        """RWLOCK INFO: None when nobody holds or waits."""
        try:
            reply = await self.client.execute_command(*commands.rwlock_info(self.name))
        except RedisError as e:
            raise errmap.translate(e) from e
        return replies.rwlock_info(reply)


class _RwHalf(RwLockCommands, Lock):
    """One side of a ReadWriteLock: aio.Lock's acquire, renewal and release over RWLOCK."""

    async def locked(self) -> bool:
        """True if anyone holds the read-write lock now, in either mode (RWLOCK INFO)."""
        info = await ReadWriteLock(self.client, self.name).info()
        return info is not None and info.holders > 0


class ReadLock(_RwHalf):
    """A shared lease of a ReadWriteLock."""

    MODE = "READ"

    async def owned(self) -> bool:
        """RWLOCK INFO counts readers but does not name them: this one cannot be checked."""
        raise NotImplementedError("RWLOCK INFO does not list readers; use extend() to check a read lease")


class WriteLock(_RwHalf):
    """The exclusive lease of a ReadWriteLock."""

    MODE = "WRITE"

    async def owned(self) -> bool:
        """True if this writer's token holds the lock now (RWLOCK INFO)."""
        info = await ReadWriteLock(self.client, self.name).info()
        return info is not None and info.mode == "write" and info.token == self.token
