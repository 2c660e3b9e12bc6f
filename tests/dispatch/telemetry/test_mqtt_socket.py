"""``BufferedSocket``: paho's byte-at-a-time reads served from one large ``recv``, over a real
socket pair; ``pending()`` is what paho's loop checks before it waits in ``select``."""

from __future__ import annotations

import socket

import pytest

from dispatch.telemetry.mqtt_socket import BufferedSocket


def test_small_reads_come_from_one_large_recv_in_order_and_pending_counts_what_is_left() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    wrapped = BufferedSocket(a)
    b.sendall(b"\x30\x05hello\x40\x02\x00\x01")
    assert wrapped.pending() == 0  # nothing read from the kernel yet
    assert wrapped.recv(1) == b"\x30"
    assert wrapped.pending() == 10  # the rest is buffered: paho must not wait in select
    assert wrapped.recv(1) == b"\x05"
    assert wrapped.recv(5) == b"hello"
    assert wrapped.recv(100) == b"\x40\x02\x00\x01"  # never more than is buffered
    assert wrapped.pending() == 0
    with pytest.raises(BlockingIOError):  # empty: paho's "try again later"
        wrapped.recv(1)
    b.sendall(b"more")
    assert wrapped.recv(2) == b"mo" and wrapped.recv(2) == b"re"
    b.close()
    assert wrapped.recv(1) == b""  # the peer closed: paho's connection lost
    assert wrapped.fileno() == a.fileno()  # select and send see the real socket
    wrapped.close()
    assert a.fileno() == -1
