"""Bulkhead permits: what one SEMAPHORE lease is, and who holds it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from .. import errors
from . import lease


@dataclass(frozen=True)
class Permit:
    """One SEMAPHORE lease: its holder (unique per call) and token."""

    holder: str
    token: int


def new_holder() -> str:
    """Each call is its own holder: SEMAPHORE renews a holder's lease rather than adding one."""
    return lease.default_owner()


def granted(name: str, token: Optional[int], holder: str) -> Permit:
    """ACQUIRE's token as a Permit, or BulkheadFull on nil."""
    if token is None:
        raise errors.BulkheadFull(f"bulkhead {name!r} is full")
    return Permit(holder, token)


def stack_var(name: str) -> contextvars.ContextVar[Tuple[Any, ...]]:
    """Per-thread / per-task stack of permits held through `with bulkhead:`; contextvars
    give each thread and each asyncio task its own."""
    return contextvars.ContextVar(f"fencepost-bulkhead-{name}", default=())
