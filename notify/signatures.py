"""Webhook signatures (``X-Twilio-Signature``): the fake signs with this, the app checks it."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

HEADER = "X-Twilio-Signature"


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def is_valid(auth_token: str | None, url: str, params: Mapping[str, str],
             signature: str | None) -> bool:
    """True only for a request signed with ``auth_token`` over exactly this URL and these
    parameters; False when any of them is missing."""
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
