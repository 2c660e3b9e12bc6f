"""The channel interface: hand a message to a provider, get the provider's id back.

A provider answers in one of three ways, and the outbox needs to tell them apart:
accepted (a :class:`SendResult` with the provider's id), refused for good (a
:class:`ProviderError` with ``retryable=False``: a bad number, a blocked account) or failed in a
way worth retrying (``retryable=True``: 5xx, 429, timeouts, connection errors). Another SMS
provider (mainland deployments often use a domestic one) is one more class with ``send``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Kind = Literal["sms", "voice"]


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to send. ``twiml`` is the voice script; ``status_callback`` the URL the
    provider reports delivery to (None: no reports)."""

    kind: Kind
    to: str
    body: str
    twiml: str | None = None
    status_callback: str | None = None
    tag: str = ""


@dataclass(frozen=True, slots=True)
class SendResult:
    provider: str
    provider_id: str
    status: str = "queued"


@dataclass
class ProviderError(Exception):
    """The provider did not take the message; ``retryable`` says whether trying again may help."""

    message: str
    retryable: bool = True
    code: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class Channel(Protocol):
    """Anything that can send an :class:`Outbound` of its ``kind``."""

    name: str
    kind: Kind

    def send(self, message: Outbound) -> SendResult: ...
