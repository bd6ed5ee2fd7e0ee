"""Where a breaker's State lives: in this process (LocalStore) or in fencepost (SharedStore
over a sync client; fencepost.aio._breakers has the async one). Each store runs the
pure rules of _core.breaker in a read / decide / compare-and-set loop."""

from __future__ import annotations

import threading
import time
from typing import Tuple, Union

from redis.exceptions import RedisError

from . import _script, errors
from ._core import breaker as rules
from ._core import errmap
from ._types import SyncClient


class LocalStore:
    """State in this process; the clock is the local monotonic clock."""

    def __init__(self) -> None:
        self._state = rules.State()
        self._mu = threading.Lock()

    def read(self) -> Tuple[rules.State, int]:
        """The state and now (ms)."""
        return self._state, int(time.monotonic() * 1000)

    def cas(self, expected: rules.State, new: rules.State, policy: rules.Policy) -> bool:
        """Write `new` if the state is still `expected`."""
        with self._mu:
            if self._state.version != expected.version:
                return False
            self._state = new
            return True


class SharedStore:
    """State in a fencepost hash; the clock is the cluster clock."""

    def __init__(self, client: SyncClient, name: str) -> None:
        self.client = client
        self.key = rules.shared_key(name)

    def read(self) -> Tuple[rules.State, int]:
        """The state and the cluster's now (ms)."""
        try:
            return rules.parse_read(_script.run(self.client, rules.READ, (self.key,), ()))
        except RedisError as e:
            raise errmap.translate(e) from e

    def cas(self, expected: rules.State, new: rules.State, policy: rules.Policy) -> bool:
        """Write `new` if nobody wrote since `expected` was read."""
        args = rules.cas_args(expected, new, policy)
        try:
            return bool(_script.run(self.client, rules.CAS, (self.key,), args))
        except RedisError as e:
            raise errmap.translate(e) from e


Store = Union[LocalStore, SharedStore]


def admit(store: Store, name: str, policy: rules.Policy) -> rules.State:
    """Let a call through or raise CircuitOpen; returns the state it was let in on."""
    while True:
        s, now = store.read()
        ok, new, wait = rules.admit(s, now, policy)
        if not ok:
            raise errors.CircuitOpen(name, wait)
        if new is None:
            return s
        if store.cas(s, new, policy):
            return new


def report(store: Store, policy: rules.Policy, seen: rules.State, ok: bool) -> None:
    """Record a call's outcome. A success seen in a clean closed state writes nothing."""
    if ok and seen.mode == rules.CLOSED and not seen.failures:
        return
    while True:
        s, now = store.read()
        new = rules.on_success(s) if ok else rules.on_failure(s, now, policy)
        if new is None or store.cas(s, new, policy):
            return
