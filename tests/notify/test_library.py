"""Templates, TwiML, signatures, replies, phones and backoff: the pure parts of ``notify``."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from notify import twiml
from notify.phones import mask, to_e164, variants
from notify.replies import parse_reply
from notify.retry import backoff_s
from notify.signatures import is_valid, sign
from notify.templates import TEMPLATES, MissingValue, pick_lang, render

SAMPLE = {"address": "太原市小店区测试路1号", "rescue_code": "250001", "trapped": 2,
          "accept_by": "08:33", "code": "17", "link": "https://x/crew?t=abc", "eta_min": 12,
          "taken_over_by": "龙城一组", "register_code": "31101401052020000001",
          "policy_no": "P-1", "incident_id": 5, "received_at": "2026-11-30 16:30",
          "state": "accepted", "action": "接单", "action_en": "accepted",
          "team_name": "并州一组", "reason": "改派", "building": "3号楼", "injured": "否",
          "caller": "138****0000"}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_template_renders_in_both_languages(name: str, lang: str) -> None:
    text = render(name, lang, SAMPLE)
    assert text and "{" not in text
    if lang == "zh-CN":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_use_unit_notice_says_the_team_is_on_its_way_with_the_eta() -> None:
    text = render("use_unit_notice", "zh-CN", SAMPLE)
    assert text.startswith("【96333】电梯困人")
    assert "救援队伍已出发，预计12分钟到达" in text and "太原市小店区测试路1号" in text


def test_offer_sms_has_the_reply_code_and_the_link() -> None:
    text = render("offer_sms", "zh-CN", SAMPLE)
    assert "回复“1 17”接单" in text and "“2 17”拒绝" in text and "https://x/crew?t=abc" in text


def test_missing_value_is_named() -> None:
    with pytest.raises(MissingValue, match="eta_min"):
        render("use_unit_notice", "zh-CN", {"address": "a", "rescue_code": "1"})


def test_language_choice_is_chinese_first() -> None:
    assert pick_lang("en-GB") == "en" and pick_lang("zh") == "zh-CN"
    assert pick_lang(None) == "zh-CN" and pick_lang("fr") == "zh-CN"


def test_gather_twiml_says_chinese_and_collects_digits() -> None:
    doc = twiml.gather("地址<甲&乙>，接单请按1", action="https://x/g?step=offer&a=3",
                       lang="zh-CN", num_digits=1, after="再见")
    root = ET.fromstring(doc)
    g = root.find("Gather")
    assert g is not None and g.get("numDigits") == "1" and g.get("input") == "dtmf"
    assert g.get("action") == "https://x/g?step=offer&a=3"
    says = g.findall("Say")
    assert says[0].get("language") == "zh-CN" and says[0].text == "地址<甲&乙>，接单请按1"
    assert root.find("Say").text == "再见" and root.find("Hangup") is not None


def test_dial_connects_to_the_operator() -> None:
    root = ET.fromstring(twiml.dial("正在转接", "+863517000000", lang="zh-CN"))
    assert root.find("Dial").text == "+863517000000"
    assert root.find("Say").get("language") == "zh-CN"
    assert ET.fromstring(twiml.say("hello", lang="en")).find("Say").get("language") == "en-US"


def test_signatures_cover_url_and_every_parameter() -> None:
    url, params = "https://rescue.example/twilio/sms?x=1", {"From": "+86139", "Body": "1 17"}
    sig = sign("tok", url, params)
    assert is_valid("tok", url, params, sig)
    assert not is_valid("tok", url, {**params, "Body": "2 17"}, sig)
    assert not is_valid("tok", url + "2", params, sig)
    assert not is_valid("other", url, params, sig)
    assert not is_valid("tok", url, params, None) and not is_valid(None, url, params, sig)


@pytest.mark.parametrize(("text", "action", "code"), [
    ("1 17", "accept", "17"), ("2 17", "decline", "17"), ("1", "accept", None),
    ("１　１７", "accept", "17"), ("1,17", "accept", "17"), (" 2#88 ", "decline", "88"),
    ("接单 17", "accept", "17"), ("拒绝17", "decline", "17"), ("accept 5", "accept", "5"),
])
def test_replies(text: str, action: str, code: str | None) -> None:
    r = parse_reply(text)
    assert r is not None and (r.action, r.code) == (action, code)


@pytest.mark.parametrize("text", ["", "3 17", "hello", "1 abc", "117", "12 5"])
def test_not_a_reply(text: str) -> None:
    assert parse_reply(text) is None


def test_phones() -> None:
    assert to_e164("13812345678") == "+8613812345678"
    assert to_e164("0351-7654321") == "+863517654321"
    assert to_e164("+14155550100") == "+14155550100"
    assert "13812345678" in variants("+8613812345678")
    assert "0351-7654321" in variants("+863517654321")
    assert mask("+8613812345678") == "+86138****5678"
    assert mask("13812345678") == "138****5678"


def test_backoff_doubles_with_jitter_and_caps() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        d = min(300.0, 5.0 * 2 ** (attempt - 1))
        for _ in range(20):
            v = backoff_s(attempt, base_s=5, cap_s=300, rng=rng)
            assert d / 2 <= v <= d
    spread = {round(backoff_s(3, base_s=5, cap_s=300, rng=rng), 3) for _ in range(20)}
    assert len(spread) > 10  # jittered, not a fixed schedule
    with pytest.raises(ValueError):
        backoff_s(0, base_s=5, cap_s=300)


def test_the_log_channel_prints_the_text_with_the_number_masked(caplog) -> None:
    import logging

    from notify.channel import Outbound
    from notify.log_channel import LogChannel

    with caplog.at_level(logging.INFO, logger="rescue.notify"):
        LogChannel("sms").send(Outbound(kind="sms", to="+8613812345678",
                                        body="【96333】电梯困人派单 /crew?t=abc"))
    line = caplog.records[-1].getMessage()
    assert "+86138****5678" in line and "13812345678" not in line
    assert "/crew?t=abc" in line
