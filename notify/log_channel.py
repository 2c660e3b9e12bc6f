"""The log channel: the default when no provider is configured (development, tests, demos).

It "sends" by writing a log line (the number masked, the text whole: a demo user sees each
message and its crew link) and keeping the message in memory, so a deployment without Twilio
credentials still records every notification in its outbox with status ``sent``.
"""

from __future__ import annotations

import itertools
import logging
import threading

from notify.channel import Kind, Outbound, SendResult
from notify.phones import mask

log = logging.getLogger("rescue.notify")


class LogChannel:
    def __init__(self, kind: Kind, *, keep: int = 1000) -> None:
        self.name = "log"
        self.kind: Kind = kind
        self.sent: list[Outbound] = []
        self._keep = keep
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, message: Outbound) -> SendResult:
        with self._lock:
            n = next(self._ids)
            self.sent.append(message)
            del self.sent[:-self._keep]
        log.info("%s to %s: %s", message.kind, mask(message.to), message.body)
        return SendResult("log", f"LOG{self.kind[:2].upper()}{n:010d}", "sent")
