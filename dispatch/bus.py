"""Event bus: fans committed timeline events out to live consoles.

The database is the source of truth; the bus only pushes. The in-process backend is the default;
a Redis backend (``RESCUE_REDIS_URL``, for several workers) sits behind the same two methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import uuid
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


BUS_STATUS = "_bus"
"""Type of the control messages a bus sends its local subscribers when its link to other
workers goes down (``{"type": "_bus", "state": "down"}``) or comes back (``"up"``); the stream
hub reads the timeline table while the link is down, so nothing is lost."""

log = logging.getLogger("rescue.bus")


class RedisBus:
    """Redis pub/sub between workers, with local delivery that never depends on Redis.

    ``publish`` hands the message to this process's subscribers at once and sends it to Redis
    tagged with this bus's origin; a listener thread delivers the other workers' messages and
    skips its own. A Redis failure never reaches the caller (publishing runs after a commit that
    already happened): the bus reports ``down`` to its subscribers, stops sending until the
    listener has reconnected, then reports ``up``.
    """

    def __init__(self, url: str, *, channel: str = "rescue:events",
                 retry_s: tuple[float, float] = (0.2, 5.0)) -> None:
        import redis

        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=0.5,
                                          health_check_interval=5)
        self._local = InProcessBus()
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.healthy = False
        self.connected = threading.Event()
        self.published = 0
        self.publish_errors = 0
        self.start()
        self.connected.wait(1.0)

    # -- EventBus -------------------------------------------------------------------------
    def publish(self, message: Message) -> None:
        self._local.publish(message)
        self.published += 1
        if not self.healthy:
            return  # the listener reconnects; meanwhile hubs read the table
        try:
            self._redis.publish(self.channel, json.dumps(
                {"o": self.origin, "m": message}, ensure_ascii=False, default=str))
        except Exception as exc:  # any Redis/network failure: keep serving
            self.publish_errors += 1
            log.warning("redis publish failed: %s", exc)
            self._set_health(False)

    def subscribe(self, callback: Callable[[Message], None]) -> Callable[[], None]:
        return self._local.subscribe(callback)

    # -- listener -------------------------------------------------------------------------
    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._listen, name="redis-bus",
                                                daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self._redis.close()

    def _set_health(self, healthy: bool) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        if healthy:
            self.connected.set()
        else:
            self.connected.clear()
        log.warning("redis bus %s", "up" if healthy else "down")
        self._local.publish({"type": BUS_STATUS, "state": "up" if healthy else "down"})

    def _listen(self) -> None:
        delay = self._retry_s[0]
        first = True
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                if first:  # nothing was missed before the first connection
                    self.healthy = True
                    self.connected.set()
                else:
                    self._set_health(True)
                first = False
                delay = self._retry_s[0]
                while not self._stop.is_set():
                    item = pubsub.get_message(timeout=0.5)
                    if item is None or item.get("type") != "message":
                        continue
                    self._deliver(item["data"])
            except Exception as exc:
                if not first or self.healthy:
                    log.warning("redis bus listener: %s", exc)
                self._set_health(False)
                first = False
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry_s[1])
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def _deliver(self, raw: bytes) -> None:
        try:
            envelope = json.loads(raw)
        except ValueError:
            log.warning("redis bus: dropped a message that is not JSON")
            return
        if envelope.get("o") == self.origin:
            return
        self._local.publish(envelope["m"])


def make_bus(redis_url: str | None, *, scope: str = "") -> EventBus:
    """Redis when a URL is configured (several workers), else in-process.

    Redis pub/sub channels ignore the database number, so the channel is named after ``scope``
    (the database URL): workers of one deployment share it, other deployments on the same Redis
    (or parallel test runs) do not hear each other."""
    if not redis_url:
        return InProcessBus()
    return RedisBus(redis_url, channel=channel_for(scope))


def channel_for(scope: str) -> str:
    return f"rescue:events:{hashlib.sha256(scope.encode()).hexdigest()[:12]}"
