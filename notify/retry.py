"""Exponential backoff with jitter: spread retries so a provider outage does not end in a
thundering herd when it recovers."""

from __future__ import annotations

import random


def backoff_s(attempt: int, *, base_s: float, cap_s: float,
              rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1 = after the first failure): a random value in
    ``[d/2, d]`` where ``d = min(cap, base · 2^(attempt-1))`` ("equal jitter")."""
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    d = min(cap_s, base_s * 2 ** (attempt - 1))
    r = (rng or random).random()
    return d / 2 + r * d / 2
