"""A load generator's MQTT 5 publisher: QoS 1 PUBLISH packets encoded ahead of time and written
to the socket in large writes (bench only).

Why not paho here: a paho publish costs ~270 µs of Python in the publishing process (3,640
QoS 1 messages/s per process, measured), so on this 2-core machine the bench's own publishers
took the CPU the consumers under test needed, and could not even offer 10,000 heartbeats/s.
Real terminals are other machines; this generator costs a few µs a message, so what the bench
measures is the server. Written from the MQTT 5.0 specification (sections 3.1 CONNECT, 3.2
CONNACK, 3.3 PUBLISH, 3.4 PUBACK); the server side keeps using paho-mqtt.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH, QoS 1, no properties."""
    body = _string(topic) + struct.pack("!HB", packet_id, 0) + payload
    return b"\x32" + varint(len(body)) + body


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7


_FIXED = {1: 1, 2: 4, 3: -1, 8: -1, 9: -2, 17: 4, 18: -1, 19: 2, 21: -1, 22: -2, 23: 1,
          24: 4, 25: 1, 26: -1, 28: -1, 31: -1, 33: 2, 34: 2, 35: 2, 36: 1, 37: 1, 38: -3,
          39: 4, 40: 1, 41: 1, 42: 1}


def _properties(buf: bytes, pos: int) -> dict[int, int]:
    """The integer properties of a CONNACK (strings and binaries skipped)."""
    length, pos = _read_varint(buf, pos)
    end, out = pos + length, {}
    while pos < end:
        pid = buf[pos]
        pos += 1
        if pid == 11:
            out[pid], pos = _read_varint(buf, pos)
            continue
        size = _FIXED[pid]
        if size > 0:
            out[pid] = int.from_bytes(buf[pos:pos + size], "big")
            pos += size
        else:
            for _ in range(2 if size == -3 else 1):
                (n,) = struct.unpack_from("!H", buf, pos)
                pos += 2 + n
    return out


class WirePublisher:
    """One connection (clean start, no keep-alive) publishing pre-encoded QoS 1 messages; a
    reader thread counts PUBACKs, and ``send`` keeps no more unacknowledged messages than the
    broker's Receive Maximum (the broker acknowledges QoS 1 in order, so packet ids taken in
    turn are never reused while in flight)."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = (_string("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 0) + b"\x00"
                + _string(client_id))
        self.sock.sendall(b"\x10" + varint(len(body)) + body)
        head = self._recv_exact(2)
        if head[0] != 0x20:
            raise ConnectionError(f"expected CONNACK, got packet type {head[0] >> 4}")
        length, rest = head[1], b""
        if length & 0x80:  # a longer remaining length
            rest = self._recv_exact(1)
            length = (length & 0x7F) | (rest[0] << 7)
        ack = self._recv_exact(length)
        if ack[1] != 0:
            raise ConnectionError(f"CONNACK reason code {ack[1]:#x}")
        self.window = min(_properties(ack, 2).get(33, 65535), 65000)
        self.sent = 0
        self.acked = 0
        self.refused = 0  # PUBACKs with a failure reason code (0x80 and up)
        self.error: str | None = None
        self._cond = threading.Condition()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    def packet_ids(self, n: int) -> list[int]:
        """The next ``n`` packet ids, in the order the packets must be sent."""
        out = [(self._next_id + k) % 65535 + 1 for k in range(n)]
        self._next_id = (self._next_id + n) % 65535
        return out

    def encode(self, messages: Sequence[tuple[str, bytes]]) -> list[bytes]:
        return [publish_packet(t, p, pid)
                for (t, p), pid in zip(messages, self.packet_ids(len(messages)), strict=True)]

    def send(self, packets: Sequence[bytes]) -> None:
        """Write ``packets`` (encoded in turn by ``encode``), as few writes as the window
        allows."""
        i = 0
        while i < len(packets):
            with self._cond:
                while self.sent - self.acked >= self.window and self.error is None:
                    self._cond.wait(1.0)
                if self.error is not None:
                    raise ConnectionError(self.error)
                room = self.window - (self.sent - self.acked)
            chunk = packets[i:i + room]
            self.sock.sendall(b"".join(chunk))
            with self._cond:
                self.sent += len(chunk)
            i += len(chunk)

    def wait_acked(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.acked < self.sent and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return self.error is None

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("broker closed the connection")
                buf += data
                pos = acks = refused = 0
                while pos + 2 <= len(buf):
                    try:
                        length, start = _read_varint(buf, pos + 1)
                    except IndexError:
                        break
                    if start + length > len(buf):
                        break
                    kind = buf[pos] >> 4
                    if kind == 4:
                        acks += 1
                        refused += length > 2 and buf[start + 2] >= 0x80
                    elif kind == 14:
                        raise ConnectionError("broker sent DISCONNECT "
                                              f"{buf[start] if length else 0:#x}")
                    pos = start + length
                buf = buf[pos:]
                if acks:
                    with self._cond:
                        self.acked += acks
                        self.refused += refused
                        self._cond.notify_all()
        except OSError as exc:
            with self._cond:
                self.error = self.error or str(exc)
                self._cond.notify_all()

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
        finally:
            self.sock.close()
