"""A paho-mqtt client that reads its socket in large chunks (issue 19).

paho reads a packet with a ``recv`` per header byte and then one for the rest, and one packet
per ``select``; at thousands of heartbeats a second that is ~6 system calls a message, each
giving up and taking back the GIL, and it made paho's network thread the limit of a heartbeat
consumer (5,000 messages/s in one process, the worker idle three quarters of the time). Here
``recv`` is served from a buffer filled 256 KB at a time, ``pending()`` tells paho's loop that
buffered bytes are waiting (the hook paho already has for TLS sockets), and ``loop_read`` goes
on while they are. Measured: 8,900 heartbeats/s drained by one process (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

CHUNK = 256 * 1024


class BufferedSocket:
    """Wraps a connected (possibly TLS) socket; everything but ``recv``/``pending`` passes
    through, so paho's ``select``, ``send`` and ``close`` see the real socket."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        if self._pos >= len(self._data):
            self._data = self._sock.recv(CHUNK)  # BlockingIOError / SSLWantRead pass to paho
            self._pos = 0
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._data) - self._pos + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """``mqtt.Client`` over a ``BufferedSocket`` (plain TCP and TLS; other transports as
    paho makes them)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return BufferedSocket(sock) if self.transport == "tcp" else sock

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while (rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(self._sock, BufferedSocket)
               and self._sock.pending() > 0):
            rc = super().loop_read(max_packets)
        return rc
