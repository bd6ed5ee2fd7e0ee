"""Exception classes: one per server error code or client outcome, all under FencepostError.

Server replies keep redis-py's ResponseError as a base (and connection failures its
ConnectionError), so code written against redis-py still catches them.
"""

from __future__ import annotations

from redis import exceptions as rx


class FencepostError(rx.RedisError):
    """Base of every error this package raises."""


class CommandError(FencepostError, rx.ResponseError):
    """The server answered an error reply (`-ERR ...` and every code without its own class)."""


class UnknownCommand(CommandError):
    """The server does not know the command (an older server)."""


class WrongType(CommandError):
    """-WRONGTYPE: the name exists as another kind of object."""


class ClusterDown(CommandError):
    """-CLUSTERDOWN: no leader or quorum; the command was NOT applied, so it is safe to retry."""


class Uncertain(CommandError):
    """-UNCERTAIN: proposed but the outcome is unknown; it may or may not have applied."""


class ConnectionLost(FencepostError, rx.ConnectionError):
    """The connection failed or timed out after the command was sent.

    The outcome is as unknown as after -UNCERTAIN: retry treats both alike."""


class ConnectionRefused(FencepostError, rx.ConnectionError):
    """No node could be reached, so the command was never sent; safe to retry."""


class StaleToken(CommandError):
    """-STALE: a fencing token older than one already seen, or not the lock holder's."""


class IdempotencyMismatch(CommandError):
    """-MISMATCH: an idempotency key reused with another fingerprint (HTTP 422)."""


class AuthError(CommandError):
    """Base of the authentication and permission errors."""


class AuthenticationRequired(AuthError):
    """-NOAUTH: the connection must authenticate first (or its user was switched off)."""


class AuthenticationFailed(AuthError):
    """-WRONGPASS: bad user name or password, or the user is disabled."""


class PermissionDenied(AuthError):
    """-NOPERM: the user may not run this command or touch this key."""


class LockNotAcquired(FencepostError):
    """A lock used as a context manager could not be acquired (or holds no token)."""


class LockLost(FencepostError):
    """The lease ended while held: renewal failed or the server no longer names us holder."""


class IdempotencyInProgress(FencepostError):
    """Another claim on this idempotency key is in flight (HTTP 409)."""

    def __init__(self, retry_after_ms: int) -> None:
        super().__init__(f"idempotency key in progress; retry after {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms


class CircuitOpen(FencepostError):
    """The circuit breaker is open (or half-open with its one trial call in flight)."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry after {retry_after_s:.3f} s")
        self.name = name
        self.retry_after_s = retry_after_s


class BulkheadFull(FencepostError):
    """Every permit of the bulkhead is leased and the wait (if any) ran out."""


__all__ = [
    "AuthError",
    "AuthenticationFailed",
    "AuthenticationRequired",
    "BulkheadFull",
    "CircuitOpen",
    "ClusterDown",
    "CommandError",
    "ConnectionLost",
    "ConnectionRefused",
    "FencepostError",
    "IdempotencyInProgress",
    "IdempotencyMismatch",
    "LockLost",
    "LockNotAcquired",
    "PermissionDenied",
    "StaleToken",
    "Uncertain",
    "UnknownCommand",
    "WrongType",
]
