"""The alarm code table: GB/T 24476-2017-style codes and common retrofit-terminal event names.

Pure data and lookup, no I/O. A terminal sends ``code`` as a string: a numeric code ("11", "41")
or a vendor event name ("trapped_between_floors", "one-key help"). Both resolve to one canonical
:class:`Code`; an unknown code resolves to a ``kind="unknown"`` entry so it is stored and shown,
never rejected (new firmware must not lose alarms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["fault", "entrapment", "mode", "button", "escalator", "retrofit", "unknown"]


@dataclass(frozen=True, slots=True)
class Code:
    """``code`` canonical ("11", "41", or "R:door_open_running" for retrofit-only events)."""

    code: str
    kind: Kind
    name_zh: str
    name_en: str
    entrapment: bool = False
    mode: str | None = None  # the elevator mode this event puts the lift in


def _c(code: str, kind: Kind, zh: str, en: str, **kw: object) -> Code:
    return Code(code, kind, zh, en, **kw)  # type: ignore[arg-type]


CODES: Final[dict[str, Code]] = {c.code: c for c in (
    _c("01", "fault", "运行中安全回路断路", "safety circuit opened while running"),
    _c("02", "fault", "关门故障", "door-close fault"),
    _c("03", "fault", "开门故障", "door-open fault"),
    _c("04", "fault", "门区外停梯", "stopped outside the unlocking zone"),
    _c("05", "fault", "轿厢意外移动", "unintended car movement"),
    _c("06", "fault", "电动机运转时间限制器动作", "run-time limiter tripped"),
    _c("07", "fault", "楼层位置丢失", "floor position lost"),
    _c("08", "fault", "防止电梯再运行故障", "prevent-restart fault"),
    _c("09", "fault", "冲顶", "over-travel top"),
    _c("10", "fault", "蹲底", "over-travel bottom"),
    _c("11", "entrapment", "困人", "entrapment", entrapment=True),
    _c("40", "mode", "恢复正常", "back to normal", mode="normal"),
    _c("41", "mode", "主电源断电", "mains power lost", mode="power_lost"),
    _c("42", "mode", "停止服务", "out of service", mode="out_of_service"),
    _c("43", "mode", "检修", "inspection (maintenance)", mode="inspection"),
    _c("44", "mode", "消防返回", "fire return", mode="fire_return"),
    _c("45", "mode", "消防员操作", "firefighter operation", mode="firefighter"),
    _c("46", "mode", "应急电源运行", "emergency power", mode="emergency_power"),
    _c("47", "mode", "地震运行", "earthquake operation", mode="earthquake"),
    _c("90", "button", "报警按钮被按下", "alarm button pressed", entrapment=True),
    _c("61", "escalator", "扶梯梯级缺失", "escalator step missing"),
    _c("62", "escalator", "扶梯扶手带速度偏差", "escalator handrail speed deviation"),
    _c("63", "escalator", "扶梯超速", "escalator overspeed"),
    _c("64", "escalator", "扶梯非操纵逆转", "escalator unintended reversal"),
    _c("65", "escalator", "扶梯梳齿板异物", "escalator comb plate obstruction"),
    # Retrofit-terminal events with no GB/T number of their own.
    _c("R:door_open_running", "retrofit", "开门走梯", "door open while running"),
    _c("R:overspeed", "retrofit", "超速", "overspeed"),
    _c("R:ebike", "retrofit", "电动车进入轿厢", "e-bike entering the car"),
    _c("R:door_blocked", "retrofit", "长时间阻门", "door blocking"),
    _c("R:smoke", "retrofit", "烟雾", "smoke"),
)}

TRAPPED_AT_FLOOR: Final = _c("11", "entrapment", "平层困人", "trapped at floor",
                             entrapment=True)
TRAPPED_BETWEEN_FLOORS: Final = _c("11", "entrapment", "非平层困人", "trapped between floors",
                                   entrapment=True)

VENDOR_NAMES: Final[dict[str, Code]] = {
    # entrapment
    "trapped": CODES["11"], "entrapment": CODES["11"], "困人": CODES["11"],
    "trapped_at_floor": TRAPPED_AT_FLOOR, "平层困人": TRAPPED_AT_FLOOR,
    "trapped_between_floors": TRAPPED_BETWEEN_FLOORS, "非平层困人": TRAPPED_BETWEEN_FLOORS,
    "trapped_outside_door_zone": TRAPPED_BETWEEN_FLOORS,
    # the one-key help button is the alarm button (90)
    "one_key_help": CODES["90"], "one_key_call": CODES["90"], "sos": CODES["90"],
    "一键呼救": CODES["90"], "alarm_button": CODES["90"], "emergency_call": CODES["90"],
    # power and modes
    "power_cut": CODES["41"], "power_failure": CODES["41"], "mains_lost": CODES["41"],
    "停电": CODES["41"], "power_restored": CODES["40"], "back_to_normal": CODES["40"],
    "normal": CODES["40"], "恢复正常": CODES["40"], "inspection": CODES["43"],
    "maintenance": CODES["43"], "检修": CODES["43"], "out_of_service": CODES["42"],
    "fire": CODES["44"], "fire_return": CODES["44"], "earthquake": CODES["47"],
    # faults
    "door_open_while_running": CODES["R:door_open_running"],
    "door_open_running": CODES["R:door_open_running"], "开门走梯": CODES["R:door_open_running"],
    "overspeed": CODES["R:overspeed"], "超速": CODES["R:overspeed"],
    "over_travel_top": CODES["09"], "冲顶": CODES["09"],
    "over_travel_bottom": CODES["10"], "蹲底": CODES["10"],
    "stopped_outside_door_zone": CODES["04"], "unintended_movement": CODES["05"],
    "door_close_fault": CODES["02"], "door_open_fault": CODES["03"],
    "ebike": CODES["R:ebike"], "e_bike": CODES["R:ebike"], "电动车": CODES["R:ebike"],
    "电瓶车进梯": CODES["R:ebike"],
    "door_blocking": CODES["R:door_blocked"], "door_blocked": CODES["R:door_blocked"],
    "阻门": CODES["R:door_blocked"], "smoke": CODES["R:smoke"], "烟雾": CODES["R:smoke"],
}

_SEP = re.compile(r"[\s\-./]+")


def normalise_name(raw: str) -> str:
    """``"Trapped between-floors"`` → ``"trapped_between_floors"`` (case, spaces, dashes)."""
    return _SEP.sub("_", raw.strip().lower()).strip("_")


def lookup(raw: str) -> Code:
    """The code for what a terminal sent; unknown codes get ``kind="unknown"`` (kept as sent)."""
    text = raw.strip()
    if text.isdigit() and len(text) <= 2:
        text = text.zfill(2)
    if text in CODES and not text.startswith("R:"):
        return CODES[text]
    found = VENDOR_NAMES.get(text) or VENDOR_NAMES.get(normalise_name(text))
    if found is not None:
        return found
    return Code(text[:32], "unknown", "未知代码", "unknown code")


def table() -> list[Code]:
    """Every known code (numeric first), for the README and the API."""
    return sorted(CODES.values(), key=lambda c: (c.code.startswith("R:"), c.code))
