"""Reading a team's SMS reply: ``1 <code>`` accepts, ``2 <code>`` declines.

The code is the assignment number printed in the offer SMS. Full-width digits and separators
(``１　１２３``, ``1,123``) are accepted because phones with Chinese input methods send them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_REPLY = re.compile(r"^\s*([12])(?:\s*[\s,，.。:：#\-]\s*(\d{1,12}))?\s*$")
_WORDS = {"接单": "1", "接受": "1", "accept": "1", "拒绝": "2", "decline": "2"}


@dataclass(frozen=True, slots=True)
class Reply:
    action: str  # "accept" | "decline"
    code: str | None


def parse_reply(text: str) -> Reply | None:
    """The reply's meaning, or None when it is not a ``1``/``2`` answer."""
    t = unicodedata.normalize("NFKC", text or "").strip().lower()
    for word, digit in _WORDS.items():
        if t.startswith(word):
            t = digit + " " + t[len(word):].strip()
            break
    m = _REPLY.match(t)
    if not m:
        return None
    return Reply("accept" if m.group(1) == "1" else "decline", m.group(2))
