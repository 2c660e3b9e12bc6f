"""Twilio channels: SMS through the Messages API, voice through the Calls API with inline TwiML.

They use the real ``twilio`` REST client. ``base_url`` points it somewhere other than
``https://api.twilio.com`` — the local fake (:mod:`notify.fake_twilio`) in tests and demos, or a
regional proxy — by rewriting the URL in the HTTP client, so the request the client builds
(path, form fields, auth) is exactly what production sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notify.channel import Kind, Outbound, ProviderError, SendResult

TWILIO_API = "https://api.twilio.com"
RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str
    base_url: str | None = None
    timeout_s: float = 10.0


class RebasedHttpClient(TwilioHttpClient):
    """``TwilioHttpClient`` that sends ``https://api.twilio.com/…`` requests to ``base_url``."""

    def __init__(self, base_url: str | None, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s)
        self.base_url = base_url.rstrip("/") if base_url else None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


def make_client(config: TwilioConfig) -> Client:
    return Client(config.account_sid, config.auth_token,
                  http_client=RebasedHttpClient(config.base_url, config.timeout_s))


def _provider_error(exc: Exception, timeout_s: float) -> ProviderError:
    if isinstance(exc, TwilioRestException):
        retryable = exc.status >= 500 or exc.status in RETRYABLE_STATUS
        return ProviderError(f"HTTP {exc.status}: {exc.msg}", retryable=retryable,
                             code=str(exc.code) if exc.code else None)
    if isinstance(exc, requests.Timeout):
        return ProviderError(f"timeout after {timeout_s:g} s", retryable=True, code="timeout")
    if isinstance(exc, requests.ConnectionError):
        return ProviderError(f"connection failed: {exc}", retryable=True, code="connection")
    return ProviderError(f"{type(exc).__name__}: {exc}", retryable=True)


class _TwilioChannel:
    kind: Kind

    def __init__(self, config: TwilioConfig, client: Client | None = None) -> None:
        self.name = "twilio"
        self.config = config
        self.client = client or make_client(config)

    def send(self, message: Outbound) -> SendResult:
        try:
            sid, status = self._create(message)
        except (TwilioException, requests.RequestException) as exc:
            raise _provider_error(exc, self.config.timeout_s) from exc
        return SendResult("twilio", sid, status or "queued")

    def _create(self, message: Outbound) -> tuple[str, str | None]:
        raise NotImplementedError


class TwilioSms(_TwilioChannel):
    kind: Kind = "sms"

    def _create(self, message: Outbound) -> tuple[str, str | None]:
        kwargs: dict[str, Any] = {"to": message.to, "from_": self.config.from_number,
                                  "body": message.body}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        m = self.client.messages.create(**kwargs)
        return str(m.sid), m.status


class TwilioVoice(_TwilioChannel):
    kind: Kind = "voice"

    def _create(self, message: Outbound) -> tuple[str, str | None]:
        if not message.twiml:
            raise ProviderError("voice message without TwiML", retryable=False)
        kwargs: dict[str, Any] = {"to": message.to, "from_": self.config.from_number,
                                  "twiml": message.twiml}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
            kwargs["status_callback_event"] = ["initiated", "ringing", "answered", "completed"]
        c = self.client.calls.create(**kwargs)
        return str(c.sid), c.status
