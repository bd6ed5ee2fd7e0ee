"""Idempotency keys: fingerprints, BEGIN's three answers, results as JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional, Union

from .. import errors
from . import replies


def fingerprint(endpoint: str, fp: Optional[Union[str, bytes]]) -> str:
    """SHA-256 of the endpoint and the caller's fingerprint: a key reused on another
    endpoint, or with other input, is a mismatch (422), as Stripe answers."""
    h = hashlib.sha256(endpoint.encode("utf-8"))
    h.update(b"\0")
    if fp is not None:
        h.update(fp if isinstance(fp, bytes) else fp.encode("utf-8"))
    return h.hexdigest()


@dataclass(frozen=True)
class Begin:
    """IDEMP BEGIN's answer: started (token) or done (stored response bytes)."""

    started: bool
    token: int = 0
    response: bytes = b""


def begin(reply: Any) -> Begin:
    """Parse BEGIN; `pending` raises IdempotencyInProgress (MISMATCH arrives as an error)."""
    kind = replies.text(reply[0])
    if kind == "started":
        return Begin(True, token=replies.to_int(reply[1]))
    if kind == "done":
        return Begin(False, response=replies.raw(reply[1]))
    if kind == "pending":
        raise errors.IdempotencyInProgress(replies.to_int(reply[1]))
    raise ValueError(f"IDEMP BEGIN answered {reply!r}")


def encode(result: Any) -> str:
    """A result as stored: JSON (TypeError if it is not JSON-serialisable)."""
    return json.dumps(result, separators=(",", ":"), sort_keys=True)


def decode(stored: bytes) -> Any:
    """A stored result as replayed."""
    return json.loads(stored.decode("utf-8"))
