"""Phone numbers at the provider edge: E.164 for sending, variants for matching inbound ones."""

from __future__ import annotations

import re

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def to_e164(phone: str, *, country: str = "86") -> str:
    """``13812345678`` → ``+8613812345678``; landlines ``0351-1234567`` → ``+863511234567``;
    numbers already in E.164 are kept."""
    p = re.sub(r"[\s\-()（）]", "", phone)
    if p.startswith("+"):
        return p
    if p.startswith("00"):
        return "+" + p[2:]
    if _CN_MOBILE.match(p):
        return f"+{country}{p}"
    if p.startswith("0"):
        return f"+{country}{p[1:]}"
    return f"+{p}" if p.startswith(country) and len(p) > 11 else f"+{country}{p}"


def variants(phone: str, *, country: str = "86") -> list[str]:
    """The spellings a stored number may have for an inbound E.164 ``phone`` (for lookups)."""
    e164 = to_e164(phone, country=country)
    out = [e164, e164[1:]]
    if e164.startswith(f"+{country}"):
        national = e164[1 + len(country):]
        out.append(national)
        if not _CN_MOBILE.match(national):
            out.append("0" + national)
            if len(national) > 3:
                for cut in (2, 3):  # area code of 2 or 3 digits after the trunk 0
                    out.append(f"0{national[:cut]}-{national[cut:]}")
    return list(dict.fromkeys(out))


def mask(phone: str | None) -> str | None:
    """``+8613812345678`` → ``+86138****5678`` (what the API shows)."""
    if not phone:
        return phone
    if len(phone) <= 8:
        return "*" * (len(phone) - 4) + phone[-4:] if len(phone) > 4 else "****"
    return phone[:-8] + "****" + phone[-4:]
