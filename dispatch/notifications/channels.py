"""Which channels this deployment sends through, from the settings.

Twilio when an account is configured (or the demo's fake is on), otherwise the log channel. The
objects are built once per Settings object (the Twilio client keeps its connection pool).
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.settings import Settings
from notify.channel import Channel
from notify.log_channel import LogChannel
from notify.twilio_channel import TwilioConfig, TwilioSms, TwilioVoice, make_client

FAKE_ACCOUNT_SID = "AC" + "0" * 31 + "1"
FAKE_AUTH_TOKEN = "fake-twilio-demo-auth-token"
FAKE_FROM = "+8635196333"


@dataclass(frozen=True)
class Channels:
    sms: Channel
    voice: Channel
    twilio: TwilioConfig | None
    secret_key: str

    def for_kind(self, kind: str) -> Channel:
        return self.voice if kind == "voice" else self.sms


def twilio_config(settings: Settings) -> TwilioConfig | None:
    """The Twilio account in use: the configured one, the demo fake's, or None."""
    if settings.fake_twilio:
        return TwilioConfig(
            account_sid=settings.twilio_account_sid or FAKE_ACCOUNT_SID,
            auth_token=settings.twilio_auth_token or FAKE_AUTH_TOKEN,
            from_number=settings.twilio_from_number or FAKE_FROM,
            base_url=settings.twilio_api_base_url
            or f"http://127.0.0.1:{settings.fake_twilio_port}",
            timeout_s=settings.notify_timeout_s)
    if settings.twilio_account_sid and settings.twilio_auth_token:
        return TwilioConfig(account_sid=settings.twilio_account_sid,
                            auth_token=settings.twilio_auth_token,
                            from_number=settings.twilio_from_number or "",
                            base_url=settings.twilio_api_base_url,
                            timeout_s=settings.notify_timeout_s)
    return None


_CACHE: dict[int, tuple[Settings, Channels]] = {}


def channels_for(settings: Settings) -> Channels:
    hit = _CACHE.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    config = twilio_config(settings)
    if config is None:
        channels = Channels(LogChannel("sms"), LogChannel("voice"), None,
                            settings.resolved_secret_key())
    else:
        client = make_client(config)
        channels = Channels(TwilioSms(config, client), TwilioVoice(config, client), config,
                            settings.resolved_secret_key())
    _CACHE[id(settings)] = (settings, channels)
    return channels
