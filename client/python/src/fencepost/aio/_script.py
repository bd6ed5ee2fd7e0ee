"""Run a Script on an async client: EVALSHA, and SCRIPT LOAD once on NOSCRIPT."""

from __future__ import annotations

from typing import Any, Sequence

from redis.exceptions import NoScriptError

from .._core.commands import Arg
from .._core.scripts import Script
from .._types import AsyncClient


async def run(client: AsyncClient, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
    """The script's reply (redis-py errors propagate untranslated)."""
    try:
        return await client.execute_command(*script.evalsha(keys, args))
    except NoScriptError:
        await client.execute_command(*script.load())
        return await client.execute_command(*script.evalsha(keys, args))
