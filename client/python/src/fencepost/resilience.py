"""retry, circuit_breaker and Bulkhead: decorators for sync and async functions that
stack (retry inside the breaker), built on fencepost's error classes."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import Any, Callable, Optional, Tuple, Type, TypeVar, Union, cast

from . import _breakers, errors
from ._core import backoff, errmap
from ._core import breaker as rules
from ._types import is_async_client

F = TypeVar("F", bound=Callable[..., Any])


def retry(
    max_attempts: int = 3,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    *,
    idempotent: bool = False,
) -> Callable[[F], F]:
    """Retry with full-jitter exponential backoff. Resends only what is safe: -CLUSTERDOWN
    and connections refused before sending always; -UNCERTAIN (and a connection lost
    after sending) only when idempotent=True; anything else is raised at once."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")

    def should_retry(exc: BaseException, attempt: int) -> bool:
        return attempt + 1 < max_attempts and errmap.retryable(exc, idempotent=idempotent)

    def wrap(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def ainner(*args: Any, **kwargs: Any) -> Any:
                attempt = 0
                while True:
                    try:
                        return await fn(*args, **kwargs)
                    except Exception as e:
                        if not should_retry(e, attempt):
                            raise
                    await asyncio.sleep(backoff.full_jitter(attempt, base_delay, max_delay))
                    attempt += 1

            return cast(F, ainner)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            attempt = 0
            while True:
                try:
                    return fn(*args, **kwargs)
                except Exception as e:
                    if not should_retry(e, attempt):
                        raise
                time.sleep(backoff.full_jitter(attempt, base_delay, max_delay))
                attempt += 1

        return cast(F, inner)

    return wrap


class CircuitBreaker:
    """closed -> (failure_threshold consecutive failures) -> open -> (recovery_timeout s)
    -> half-open: one trial call closes it again or reopens it. Open raises CircuitOpen.
    With a shared client the state lives in fencepost and every process follows it."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30,
        *,
        name: Optional[str] = None,
        shared: Any = None,
        exclude: Tuple[Type[BaseException], ...] = (),
    ) -> None:
        self.policy = rules.Policy(failure_threshold, int(recovery_timeout * 1000))
        self.name = name
        self.shared = shared
        self.exclude = exclude
        self._store: Optional[Union[_breakers.Store, Any]] = None
        if name is not None:
            self._make_store(name)

    def _make_store(self, name: str) -> None:
        self.name = name
        if self.shared is None:
            self._store = _breakers.LocalStore()
        elif is_async_client(self.shared):
            from .aio._breakers import AsyncSharedStore

            self._store = AsyncSharedStore(self.shared, name)
        else:
            self._store = _breakers.SharedStore(self.shared, name)

    def _failed(self, exc: BaseException) -> bool:
        # Cancellation and interrupts say nothing about the callee's health.
        if not isinstance(exc, Exception):
            return False
        return not isinstance(exc, (errors.CircuitOpen, *self.exclude))

    def state(self) -> str:
        """closed, open or half-open (sync stores only; the async twin is astate())."""
        store = self._sync_store()
        s, now = store.read()
        return _shown(s, now, self.policy)

    async def astate(self) -> str:
        """closed, open or half-open."""
        store = self._require_store()
        if isinstance(store, (_breakers.LocalStore, _breakers.SharedStore)):
            s, now = await asyncio.get_running_loop().run_in_executor(None, store.read)
        else:
            s, now = await store.read()
        return _shown(s, now, self.policy)

    def _require_store(self) -> Any:
        if self._store is None:
            raise RuntimeError("name the breaker or decorate a function first")
        return self._store

    def _sync_store(self) -> _breakers.Store:
        store = self._require_store()
        if not isinstance(store, (_breakers.LocalStore, _breakers.SharedStore)):
            raise TypeError("a breaker shared through an async client is used from async code")
        return store

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) through the breaker (sync)."""
        store = self._sync_store()
        name = self.name or ""
        seen = _breakers.admit(store, name, self.policy)
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            _breakers.report(store, self.policy, seen, not self._failed(e))
            raise
        _breakers.report(store, self.policy, seen, True)
        return result

    async def acall(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """await fn(*args, **kwargs) through the breaker."""
        store = self._require_store()
        name = self.name or ""
        if isinstance(store, _breakers.LocalStore):
            seen = _breakers.admit(store, name, self.policy)
        elif isinstance(store, _breakers.SharedStore):
            seen = await _in_thread(_breakers.admit, store, name, self.policy)
        else:
            from .aio import _breakers as abreakers

            seen = await abreakers.admit(store, name, self.policy)
        ok = True
        try:
            return await fn(*args, **kwargs)
        except BaseException as e:
            ok = not self._failed(e)
            raise
        finally:
            if isinstance(store, _breakers.LocalStore):
                _breakers.report(store, self.policy, seen, ok)
            elif isinstance(store, _breakers.SharedStore):
                await _in_thread(_breakers.report, store, self.policy, seen, ok)
            else:
                from .aio import _breakers as abreakers

                await abreakers.report(store, self.policy, seen, ok)

    def __call__(self, fn: F) -> F:
        if self._store is None:
            self._make_store(f"{fn.__module__}.{fn.__qualname__}")
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def ainner(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(fn, *args, **kwargs)

            return cast(F, ainner)
        self._sync_store()

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            return self.call(fn, *args, **kwargs)

        return cast(F, inner)


def circuit_breaker(
    failure_threshold: int = 5,
    recovery_timeout: float = 30,
    *,
    name: Optional[str] = None,
    shared: Any = None,
    exclude: Tuple[Type[BaseException], ...] = (),
) -> CircuitBreaker:
    """A CircuitBreaker, usable as a decorator; `shared=<client>` keeps its state in
    fencepost (name it, or it takes the decorated function's module.qualname)."""
    return CircuitBreaker(
        failure_threshold, recovery_timeout, name=name, shared=shared, exclude=exclude
    )


def _shown(s: rules.State, now: int, p: rules.Policy) -> str:
    # An open breaker whose recovery time passed admits a trial: report it as half-open.
    if s.mode == rules.OPEN and now - s.since_ms >= p.recovery_ms:
        return rules.HALF_OPEN
    return s.mode


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    # A sync client must not block the event loop (asyncio.to_thread is 3.9+).
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))


__all__ = ["CircuitBreaker", "circuit_breaker", "retry"]
