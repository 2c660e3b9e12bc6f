"""Twilio webhooks: ``/twilio/voice`` (hotline), ``/twilio/voice/gather`` (keys pressed),
``/twilio/sms`` (team replies) and ``/twilio/status`` (delivery reports).

Access rule ``twilio-signed``: each request must carry a valid ``X-Twilio-Signature`` over the
public URL (``RESCUE_PUBLIC_BASE_URL`` + path + query) and the form fields, checked with the
account's auth token; unsigned or tampered requests get 403 and change nothing. Each is
idempotent on the provider SID: the first answer is stored in the ``inbound_message`` ledger in
the same transaction as its effect and replayed for a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from dispatch import idempotency
from dispatch.calls import service as calls
from dispatch.deps import Now, SessionDep, SettingsDep
from dispatch.errors import Problem
from dispatch.notifications import inbound
from dispatch.notifications.channels import twilio_config
from dispatch.routing import router_for
from dispatch.security.ids import QueryId
from dispatch.settings import Settings
from notify.fake_twilio import FakeTwilio
from notify.signatures import HEADER, is_valid

XML = "application/xml"
log = logging.getLogger("rescue.notify")


@dataclass(frozen=True)
class Signed:
    """A verified Twilio request: its form fields and the URL they were signed over."""

    params: dict[str, str]
    url: str


def public_url(settings: Settings, request: Request) -> str:
    url = settings.public_base_url.rstrip("/") + request.url.path
    return url + ("?" + request.url.query if request.url.query else "")


async def twilio_signed(request: Request, settings: SettingsDep) -> Signed:
    """Admit only requests signed by Twilio (or the fake) with this deployment's auth token."""
    form = await request.form()
    params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    url = public_url(settings, request)
    config = twilio_config(settings)
    if not is_valid(config.auth_token if config else None, url, params,
                    request.headers.get(HEADER)):
        raise Problem(403, "Invalid Twilio signature",
                      "X-Twilio-Signature is missing or does not match this request",
                      field=HEADER)
    return Signed(params, url)


twilio_signed.__access_roles__ = ("twilio-signed",)  # type: ignore[attr-defined]
TwilioSigned = Annotated[Signed, Depends(twilio_signed)]


@asynccontextmanager
async def fake_twilio_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Demo (``RESCUE_FAKE_TWILIO``): run the fake Twilio next to the server, so messages and
    calls appear on its page and its status callbacks come back to this server."""
    settings: Settings = app.state.settings
    config = twilio_config(settings)
    fake = None
    if settings.fake_twilio and config is not None:
        fake = start_fake_once(config.account_sid, config.auth_token, settings.fake_twilio_port)
    try:
        yield
    finally:
        if fake is not None:
            fake.stop()


def start_fake_once(account_sid: str, auth_token: str, port: int) -> FakeTwilio | None:
    """Start the demo fake on ``port``, once per machine (issue 12): with several workers the
    first one binds it and the others use it; a port taken by anything but a fake Twilio is a
    clear start-up error."""
    try:
        fake = FakeTwilio(account_sid=account_sid, auth_token=auth_token, port=port).start()
    except OSError as exc:
        import httpx

        try:
            probe = httpx.get(f"http://127.0.0.1:{port}/fake/messages", timeout=2.0)
            is_fake = probe.status_code == 200 and isinstance(probe.json(), list)
        except (httpx.HTTPError, ValueError):
            is_fake = False
        if not is_fake:
            raise RuntimeError(f"RESCUE_FAKE_TWILIO: port {port} is in use by something that is "
                               "not the fake Twilio; set RESCUE_FAKE_TWILIO_PORT") from exc
        log.warning("fake Twilio already running on port %s (another worker); using it", port)
        return None
    log.warning("fake Twilio at %s (messages listed there)", fake.base_url)
    return fake


router = APIRouter(prefix="/twilio", tags=["twilio"], lifespan=fake_twilio_lifespan)


def _once(session: Session, source: str, key: str, signed: Signed,
          effect: Callable[[], str], *, media_type: str = XML,
          same_if_key_matches: bool = False) -> Response:
    """Run ``effect`` once per ``(source, key)``; a repeat gets the first answer back (a key
    reused with other fields is a 422, unless the key alone identifies the request)."""
    digest = idempotency.request_hash(
        {"key": key} if same_if_key_matches else {"url": signed.url, **signed.params})
    stored = idempotency.run_once(session, source=source, key=key, digest=digest,
                                  effect=lambda: (200, {"text": effect()}), field="MessageSid")
    return Response(stored.body["text"], media_type=media_type)


def _sid(signed: Signed, *names: str) -> str:
    for name in names:
        if signed.params.get(name):
            return signed.params[name]
    raise Problem(422, "Missing SID", f"{names[0]} is required", field=names[0])


@router.post("/voice")
def hotline_call(signed: TwilioSigned, session: SessionDep, settings: SettingsDep,
                 now: Now) -> Response:
    """A call to the hotline: ask for the rescue code on the car's sign (the call is recorded
    as a ``call`` row for the phone desk, issue 15)."""
    _sid(signed, "CallSid")
    if settings.call_queue:
        calls.register_inbound(session, signed.params, now=now)
    return Response(inbound.ivr_welcome(settings), media_type=XML)


@router.post("/voice/gather")
def gather(signed: TwilioSigned, session: SessionDep, settings: SettingsDep, now: Now,
           step: str, code: str | None = None, a: QueryId = None) -> Response:
    """Keys pressed: ``step=code`` (rescue code typed), ``step=confirm`` (1 = report),
    ``step=offer`` (1 accept / 2 decline an offer call for assignment ``a``)."""
    call = _sid(signed, "CallSid")
    digits = signed.params.get("Digits", "")
    ctx_for = inbound.ContextFactory(settings, lambda: router_for(settings), now)
    if step == "code":
        return _once(session, "twilio:voice", f"{call}:code:{digits}", signed,
                     lambda: inbound.ivr_code(session, signed.params, settings=settings,
                                                      now=now))
    if step == "confirm":
        if not code:
            raise Problem(422, "code required", field="code")
        return _once(session, "twilio:voice", f"{call}:confirm", signed,
                     lambda: inbound.ivr_confirm(session, signed.params, code=code, now=now,
                                                 settings=settings)[0])
    if step == "offer":
        if a is None:
            raise Problem(422, "assignment required", field="a")
        return _once(session, "twilio:voice", f"{call}:offer", signed,
                     lambda: inbound.offer_keypress(session, signed.params, assignment_id=a,
                                                    ctx_for=ctx_for))
    raise Problem(422, "Unknown step", "step is code, confirm or offer", field="step")


@router.post("/sms")
def sms(signed: TwilioSigned, session: SessionDep, settings: SettingsDep, now: Now) -> Response:
    """An SMS to the centre's number: ``1 <code>`` accepts, ``2 <code>`` declines an offer."""
    sid = _sid(signed, "MessageSid", "SmsSid")
    ctx_for = inbound.ContextFactory(settings, lambda: router_for(settings), now)

    def reply() -> str:
        r = MessagingResponse()
        r.message(inbound.sms_reply(session, signed.params, ctx_for=ctx_for))
        return str(r)

    return _once(session, "twilio:sms", sid, signed, reply)


@router.post("/status", status_code=204)
def status(signed: TwilioSigned, session: SessionDep, now: Now,
           n: QueryId = None) -> Response:
    """Delivery report for a message or call we sent (``n``: our notification id)."""
    sid = _sid(signed, "MessageSid", "CallSid")
    state = signed.params.get("MessageStatus") or signed.params.get("CallStatus") or ""

    def apply() -> str:
        row = inbound.apply_status(session, signed.params, notification_id=n, now=now)
        return "" if row is None else f"{row.id}:{row.status}"

    _once(session, "twilio:status", f"{sid}:{state}", signed, apply, media_type="text/plain",
          same_if_key_matches=True)
    return Response(status_code=204)
