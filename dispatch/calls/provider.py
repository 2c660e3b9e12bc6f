"""The phone desk's Twilio REST calls (issue 15), through the real ``twilio`` client (pointed at
the local fake in tests and the demo by ``RESCUE_TWILIO_API_BASE_URL``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from dispatch.calls import service
from dispatch.errors import Problem
from dispatch.notifications.channels import twilio_config
from dispatch.settings import Settings
from dispatch.uow import unit_of_work
from notify.twilio_channel import TwilioConfig, make_client

log = logging.getLogger("rescue.calls")
TWILIO_API = "https://api.twilio.com"
_CLIENTS: dict[tuple[str, str, str | None], Client] = {}


def config(settings: Settings) -> TwilioConfig:
    c = twilio_config(settings)
    if c is None:
        raise Problem(409, "Twilio is not configured",
                      "set RESCUE_TWILIO_ACCOUNT_SID and RESCUE_TWILIO_AUTH_TOKEN", field="twilio")
    return c


def client(settings: Settings) -> Client:
    c = config(settings)
    key = (c.account_sid, c.auth_token, c.base_url)
    if key not in _CLIENTS:
        _CLIENTS[key] = make_client(c)
    return _CLIENTS[key]


def _failed(exc: Exception) -> Problem:
    log.warning("twilio call control failed: %s", type(exc).__name__)
    return Problem(502, "Telephony provider error", "Twilio did not accept the call change; "
                   "try again", field="twilio")


def redirect(settings: Settings, call_sid: str, twiml: str) -> None:
    """Replace a live call's TwiML (a queued caller is connected to a seat this way)."""
    try:
        client(settings).calls(call_sid).update(twiml=twiml)
    except (TwilioException, OSError) as exc:
        raise _failed(exc) from exc


def hang_up(settings: Settings, call_sid: str) -> None:
    """End a live call (``Status=completed``); a call already gone is fine."""
    try:
        client(settings).calls(call_sid).update(status="completed")
    except TwilioRestException as exc:
        if exc.status not in (404, 400):
            raise _failed(exc) from exc
    except (TwilioException, OSError) as exc:
        raise _failed(exc) from exc


def place(settings: Settings, *, to: str, twiml: str, status_callback: str) -> str:
    """Place an outbound call from the centre's number; returns its SID."""
    c = config(settings)
    try:
        call = client(settings).calls.create(
            to=to, from_=c.from_number, twiml=twiml, status_callback=status_callback,
            status_callback_event=["initiated", "ringing", "answered", "completed"])
    except (TwilioException, OSError) as exc:
        raise _failed(exc) from exc
    return str(call.sid)


def recording_stream(settings: Settings, recording_sid: str) -> tuple[Iterator[bytes], str]:
    """The recording's audio, fetched with the account's credentials (never a public link)."""
    c = config(settings)
    base = (c.base_url or TWILIO_API).rstrip("/")
    url = f"{base}/2010-04-01/Accounts/{c.account_sid}/Recordings/{recording_sid}.mp3"
    http = httpx.Client(timeout=c.timeout_s, auth=(c.account_sid, c.auth_token))
    try:
        resp = http.send(http.build_request("GET", url), stream=True)
    except httpx.HTTPError as exc:
        http.close()
        raise _failed(exc) from exc
    if resp.status_code == 404:
        resp.close()
        http.close()
        raise Problem(404, "Recording not found at the provider", field="recording")
    if resp.status_code != 200:
        resp.close()
        http.close()
        raise _failed(RuntimeError(str(resp.status_code)))
    ctype = resp.headers.get("content-type", "audio/mpeg").split(";")[0]

    def body() -> Iterator[bytes]:
        try:
            yield from resp.iter_bytes(64 * 1024)
        finally:
            resp.close()
            http.close()

    return body(), ctype


def delete_recording(settings: Settings, recording_sid: str) -> None:
    try:
        client(settings).recordings(recording_sid).delete()
    except TwilioRestException as exc:
        if exc.status != 404:  # already gone at the provider: fine
            raise


def run_retention(factory: sessionmaker[Session], *, settings: Settings, now: datetime) -> int:
    """Delete recordings older than ``RESCUE_CALL_RECORDING_RETENTION_DAYS`` at the provider
    and mark their rows; returns how many. A provider failure leaves the row for next time."""
    done = 0
    with unit_of_work(factory) as session:
        for call in service.expired_recordings(session, now=now, settings=settings):
            assert call.recording_sid is not None
            try:
                delete_recording(settings, call.recording_sid)
            except (TwilioException, OSError) as exc:
                log.warning("could not delete recording of call %s: %s", call.id,
                            type(exc).__name__)
                continue
            service.mark_recording_deleted(call, now=now)
            done += 1
    if done:
        log.info("deleted %s expired call recordings", done)
    return done
