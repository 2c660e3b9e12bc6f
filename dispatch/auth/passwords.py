"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations).

Checking a password costs tens of milliseconds of CPU by design. ``check_password`` runs it on a
small pool of its own (``RESCUE_PASSWORD_HASH_WORKERS`` threads, default 1), so a flood of
logins queues there instead of taking every request thread and core from the dispatch routes.
An unknown username is checked against a dummy hash, so it costs the same time as a known one
(no username enumeration by timing).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@lru_cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache
def dummy_hash() -> str:
    """A hash no password the user knows matches, checked when the username is unknown."""
    return hash_password("no such user: timing must match a real check")


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(max_workers=workers,
                                                 thread_name_prefix="rescue-argon2")
        return _pools[workers]


async def check_password(password_hash: str | None, password: str, *, workers: int) -> bool:
    """``verify_password`` on the bounded pool; ``None`` (unknown user) checks the dummy hash
    and answers False."""
    target = password_hash if password_hash is not None else dummy_hash()
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(_pool(workers), verify_password, target, password)
    return ok and password_hash is not None
