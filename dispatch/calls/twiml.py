"""TwiML of the phone desk, built with ``twilio.twiml.voice_response`` (issue 15)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from dispatch.settings import Settings

ZH, EN = "zh-CN", "en-US"
RECORDING_NOTICE = ("为保障服务质量，本次通话将被录音。", "This call is recorded.")


def _base(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/")


def enqueue(settings: Settings, call_id: int, prefix: str = "") -> str:
    """Put the caller in the hotline queue; Twilio fetches ``waitUrl`` while it waits and
    posts ``action`` when the caller leaves the queue (hung up, or redirected by an answer)."""
    base = _base(settings)
    r = VoiceResponse()
    r.say(prefix + "正在为您转接人工坐席，请稍候。", language=ZH)
    r.say("Connecting you to an operator, please hold.", language=EN)
    r.enqueue("hotline", action=f"{base}/twilio/queue/leave?c={call_id}", method="POST",
              wait_url=f"{base}/twilio/queue/wait", wait_url_method="POST")
    return str(r)


def wait(position: int | None) -> str:
    """The wait message, played in a loop by Twilio: the caller's position, zh-CN then English."""
    r = VoiceResponse()
    if position and position > 0:
        r.say(f"您前面还有{position - 1}位来电，您是第{position}位。坐席接通前请不要挂机。",
              language=ZH)
        r.say(f"You are number {position} in the queue. Please stay on the line.", language=EN)
    else:
        r.say("所有坐席正忙，请不要挂机。", language=ZH)
        r.say("All operators are busy. Please stay on the line.", language=EN)
    r.pause(length=15)
    return str(r)


def _dial_kwargs(settings: Settings, call_id: int, caller_id: str | None) -> dict[str, object]:
    kwargs: dict[str, object] = {"timeout": 30}
    if caller_id:
        kwargs["caller_id"] = caller_id
    if settings.call_recording:
        kwargs.update(record="record-from-answer-dual",
                      recording_status_callback=f"{_base(settings)}/twilio/recording?c={call_id}",
                      recording_status_callback_method="POST")
    return kwargs


def connect(settings: Settings, call_id: int, desk_phone: str) -> str:
    """What the queued caller's call is redirected to when an operator answers: the seat's
    desk phone (recorded when ``RESCUE_CALL_RECORDING``)."""
    r = VoiceResponse()
    r.say("已为您接通坐席。", language=ZH)
    r.dial(desk_phone, **_dial_kwargs(settings, call_id, None))
    return str(r)


def callback(settings: Settings, call_id: int, passenger: str, centre: str | None) -> str:
    """Outbound call-back: played to the operator's desk phone, then dials the passenger."""
    r = VoiceResponse()
    r.say("96333回拨，正在接通来电人。", language=ZH)
    r.dial(passenger, **_dial_kwargs(settings, call_id, centre))
    return str(r)


def conference(settings: Settings, name: str, *, moderator: bool) -> str:
    """Join the incident's three-way call (the operator's leg ends it for everyone)."""
    r = VoiceResponse()
    r.say("正在接入三方通话。", language=ZH)
    d = r.dial(**({"record": "record-from-answer"} if settings.call_recording else {}))
    d.conference(name, start_conference_on_enter=True, end_conference_on_exit=moderator,
                 beep=False)
    return str(r)
