"""Pure rules for notification status: which reports may move a row, and which are final.

Provider callbacks can arrive late, twice, or before the send call has even returned; ranking the
statuses makes applying them order-independent: a row only ever moves forward.
"""

from __future__ import annotations

SMS_RANK = {"pending": 0, "sending": 0, "accepted": 1, "queued": 1, "sent": 2,
            "delivered": 3, "undelivered": 3, "failed": 3, "read": 3, "cancelled": 3}
CALL_RANK = {"pending": 0, "sending": 0, "queued": 1, "initiated": 1, "ringing": 2,
             "in-progress": 3, "answered": 3, "completed": 4, "busy": 4, "no-answer": 4,
             "failed": 4, "canceled": 4, "cancelled": 4}
DELIVERED = frozenset({"delivered", "completed", "read"})
FAILED = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled"})


def rank(channel: str, status: str) -> int:
    table = CALL_RANK if channel == "voice" else SMS_RANK
    return table.get(status, -1)


def advances(channel: str, current: str, new: str) -> bool:
    """True when ``new`` is a known status later than ``current``."""
    r = rank(channel, new)
    return r >= 0 and r > rank(channel, current)
