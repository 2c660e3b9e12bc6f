"""Event bus: fans committed timeline events out to live consoles.

The database is the source of truth; the bus only pushes. The in-process backend is the default;
a Redis backend (for several workers) plugs in behind the same two methods.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol

Message = dict[str, Any]


class EventBus(Protocol):
    def publish(self, message: Message) -> None: ...

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]: ...


class InProcessBus:
    """Calls subscribers in the publishing thread; subscribers hop to their own loop."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Message], None]] = []
        self._lock = threading.Lock()
        self.published = 0

    def publish(self, message: Message) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
            self.published += 1
        for callback in subscribers:
            callback(message)

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe


def queue_subscriber(loop: asyncio.AbstractEventLoop,
                     queue: asyncio.Queue[Message]) -> Callable[[Message], None]:
    """A thread-safe callback that puts messages on an asyncio queue of ``loop``."""

    def callback(message: Message) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, message)

    return callback
