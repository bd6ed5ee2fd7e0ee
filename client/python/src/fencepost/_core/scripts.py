"""A Lua script with its SHA1, so callers send EVALSHA and load it only on NOSCRIPT."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

from .commands import Arg, Args


@dataclass(frozen=True)
class Script:
    """One script's text and digest."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode("utf-8")).hexdigest())

    def evalsha(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Args:
        """EVALSHA <sha> <numkeys> keys... args..."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def load(self) -> Args:
        """SCRIPT LOAD <source> (the script cache is replicated: once serves every node)."""
        return ("SCRIPT", "LOAD", self.source)
