"""Error classes as the live server produces them (auth on a node with a password, ACL
when the server has it, WRONGTYPE), sync and async."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis

import fencepost
import fencepost.aio
from fencepost import Lock
from fpcluster import Cluster

PASSWORD = "fencepost-test-password"


@pytest.fixture(scope="module")
def guarded() -> Iterator[Cluster]:
    """A lone node with --requirepass."""
    c = Cluster(1, password=PASSWORD)
    try:
        yield c
    finally:
        c.stop()


def test_noauth_and_wrongpass(guarded: Cluster) -> None:
    anon = fencepost.connect(guarded.addrs)
    bad = fencepost.connect(guarded.addrs, password="wrong")
    good = fencepost.connect(guarded.addrs, password=PASSWORD)
    try:
        with pytest.raises(fencepost.AuthenticationRequired):
            Lock(anon, "a").acquire(blocking=False)
        with pytest.raises(fencepost.AuthenticationFailed) as e:
            Lock(bad, "a").acquire(blocking=False)
        assert isinstance(e.value, fencepost.AuthError) and isinstance(e.value, fencepost.FencepostError)
        assert Lock(good, "a").acquire(blocking=False)
    finally:
        for c in (anon, bad, good):
            c.close()


async def test_noauth_async(guarded: Cluster) -> None:
    anon: aioredis.Redis = fencepost.aio.connect(guarded.addrs)
    try:
        with pytest.raises(fencepost.AuthenticationRequired):
            await fencepost.aio.TokenBucketLimiter(anon, 1, 1).check("k")
    finally:
        await anon.aclose()


def test_noperm_when_acl_is_served(guarded: Cluster, uniq: Callable[[str], str]) -> None:
    admin = fencepost.connect(guarded.addrs, password=PASSWORD)
    user, pw = uniq("u"), "pw-" + uniq("p")
    try:
        try:
            admin.execute_command("ACL", "SETUSER", user, "on", f">{pw}", "allkeys", "+@all", "-@lock")  # type: ignore[no-untyped-call]
        except redis.ResponseError as e:
            if "unknown command" in str(e).lower():
                pytest.skip("server has no ACL SETUSER")
            raise
        limited = fencepost.connect(guarded.addrs, username=user, password=pw)
        try:
            with pytest.raises(fencepost.PermissionDenied):
                Lock(limited, "a").acquire(blocking=False)
        finally:
            limited.close()
    finally:
        admin.close()


def test_wrongtype(client: redis.Redis, uniq: Callable[[str], str]) -> None:
    key = uniq("str")
    client.set(key, "plain string")
    with pytest.raises(fencepost.WrongType):
        Lock(client, key).acquire(blocking=False)
