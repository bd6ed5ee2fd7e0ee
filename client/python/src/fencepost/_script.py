"""Run a Script on a sync client: EVALSHA, and SCRIPT LOAD once on NOSCRIPT."""

from __future__ import annotations

from typing import Any, Sequence

from redis.exceptions import NoScriptError

from ._core.commands import Arg
from ._core.scripts import Script
from ._types import SyncClient


def run(client: SyncClient, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
    """The script's reply (redis-py errors propagate untranslated)."""
    try:
        return client.execute_command(*script.evalsha(keys, args))
    except NoScriptError:
        client.execute_command(*script.load())
        return client.execute_command(*script.evalsha(keys, args))
