"""Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random
from typing import Callable

Uniform = Callable[[float, float], float]


def full_jitter(attempt: int, base: float, cap: float, uniform: Uniform = random.uniform) -> float:
    """Sleep before retry number `attempt` (0 = first retry): uniform in [0, min(cap, base*2^n)].

    Full jitter spreads a crowd of clients that failed together (an election) instead of
    having them all return on the same beat.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return uniform(0.0, max(0.0, ceiling))
