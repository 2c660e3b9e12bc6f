"""Voice scripts as TwiML, built with ``twilio.twiml.voice_response`` (never by string pasting,
so an address with ``<`` or ``&`` cannot break the document)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from notify.templates import pick_lang

SAY_LANG = {"zh-CN": "zh-CN", "en": "en-US"}


def _say_lang(lang: str | None) -> str:
    return SAY_LANG[pick_lang(lang)]


def gather(prompt: str, *, action: str, lang: str | None, num_digits: int | None = None,
           finish_on_key: str | None = None, timeout_s: int = 8, repeat: int = 2,
           after: str | None = None, redirect: str | None = None,
           notice: tuple[str, str] | None = None) -> str:
    """Say ``prompt`` (up to ``repeat`` times) while collecting keys; the keys are POSTed to
    ``action``. If nothing is pressed, ``after`` is said and the call ends, or with
    ``redirect`` the call goes on there (no ``Digits``). ``notice`` (zh-CN, English) is said
    once first (the recording notice)."""
    r = VoiceResponse()
    if notice:
        r.say(notice[0], language=SAY_LANG["zh-CN"])
        r.say(notice[1], language=SAY_LANG["en"])
    kwargs: dict[str, object] = {"input": "dtmf", "action": action, "method": "POST",
                                 "timeout": timeout_s}
    if num_digits is not None:
        kwargs["num_digits"] = num_digits
    if finish_on_key is not None:
        kwargs["finish_on_key"] = finish_on_key
    g = r.gather(**kwargs)
    for _ in range(repeat):
        g.say(prompt, language=_say_lang(lang))
        g.pause(length=1)
    if after:
        r.say(after, language=_say_lang(lang))
    if redirect:
        r.redirect(redirect, method="POST")
    else:
        r.hangup()
    return str(r)


def say(text: str, *, lang: str | None, hangup: bool = True) -> str:
    r = VoiceResponse()
    r.say(text, language=_say_lang(lang))
    if hangup:
        r.hangup()
    return str(r)


def dial(text: str, number: str, *, lang: str | None, caller_id: str | None = None,
         timeout_s: int = 30) -> str:
    """Say ``text`` and connect the caller to ``number`` (the operator desk)."""
    r = VoiceResponse()
    r.say(text, language=_say_lang(lang))
    r.dial(number, timeout=timeout_s, caller_id=caller_id)
    return str(r)
