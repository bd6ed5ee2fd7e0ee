"""Map redis-py exceptions to fencepost's classes, and classify them for retrying."""

from __future__ import annotations

import errno
from typing import Dict, Type

from redis import exceptions as rx

from .. import errors as fe

# Codes redis-py leaves in the message (it strips only the codes it knows itself).
_BY_CODE: Dict[str, Type[fe.CommandError]] = {
    "CLUSTERDOWN": fe.ClusterDown,
    "UNCERTAIN": fe.Uncertain,
    "STALE": fe.StaleToken,
    "MISMATCH": fe.IdempotencyMismatch,
    "WRONGTYPE": fe.WrongType,
    "NOAUTH": fe.AuthenticationRequired,
    "WRONGPASS": fe.AuthenticationFailed,
    "NOPERM": fe.PermissionDenied,
}


def translate(exc: BaseException) -> BaseException:
    """The fencepost exception for a redis-py one (the same object if it needs none)."""
    if isinstance(exc, fe.FencepostError) or not isinstance(exc, rx.RedisError):
        return exc
    msg = str(exc)
    out: BaseException
    if isinstance(exc, rx.ClusterDownError):
        out = fe.ClusterDown(_with_code("CLUSTERDOWN", msg))
    elif isinstance(exc, rx.NoPermissionError):
        out = fe.PermissionDenied(_with_code("NOPERM", msg))
    elif isinstance(exc, rx.AuthenticationError):
        # redis-py strips both NOAUTH and WRONGPASS into one class; the text tells them apart.
        if msg.lower().startswith("authentication required"):
            out = fe.AuthenticationRequired(_with_code("NOAUTH", msg))
        else:
            out = fe.AuthenticationFailed(_with_code("WRONGPASS", msg))
    elif isinstance(exc, (rx.ConnectionError, rx.TimeoutError)):
        out = fe.ConnectionRefused(msg) if sent_nothing(exc) else fe.ConnectionLost(msg)
    elif isinstance(exc, rx.ResponseError):
        code = msg.split(" ", 1)[0]
        cls = _BY_CODE.get(code)
        if cls is not None:
            out = cls(msg)
        elif is_unknown_command(exc):
            out = fe.UnknownCommand(msg)
        else:
            out = fe.CommandError(msg)
    else:
        return exc
    out.__cause__ = exc
    return out


def _with_code(code: str, msg: str) -> str:
    return msg if msg.startswith(code) else f"{code} {msg}"


def is_unknown_command(exc: BaseException) -> bool:
    """True for `-ERR unknown command ...` (and unknown subcommand) replies."""
    if not isinstance(exc, rx.ResponseError):
        return False
    msg = str(exc).lower()
    return msg.startswith("unknown command") or msg.startswith("unknown subcommand")


def sent_nothing(exc: BaseException) -> bool:
    """True when a connection error happened while connecting, before any byte was sent.

    redis-py raises ConnectionError("Error N connecting to host:port. ...") from the
    OSError of connect(); a timeout while connecting reads "Timeout connecting to server".
    """
    if isinstance(exc, fe.ConnectionRefused):
        return True
    if isinstance(exc, fe.ConnectionLost):
        return False
    if not isinstance(exc, (rx.ConnectionError, rx.TimeoutError)):
        return False
    msg = str(exc)
    if "connecting to" in msg:
        return True
    ctx = exc.__context__
    return isinstance(ctx, OSError) and ctx.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH)


def retryable(exc: BaseException, *, idempotent: bool) -> bool:
    """Whether a retry may resend: never applied, or applied-maybe and idempotent."""
    exc = translate(exc)
    if isinstance(exc, (fe.ClusterDown, fe.ConnectionRefused)):
        return True
    if isinstance(exc, (fe.Uncertain, fe.ConnectionLost)):
        return idempotent
    return False


def transient(exc: BaseException) -> bool:
    """Errors an idempotent command of this package (ACQUIRE, EXTEND...) rides through."""
    return retryable(exc, idempotent=True)
