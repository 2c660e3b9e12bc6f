"""Three-level response (三级响应) as a pure function: who gets the offer, and why.

Level 1 is the elevator's contracted maintenance company; level 2 rescue stations and other
maintenance companies; level 3 the fire brigade (119). The fastest level-1 team is chosen if it
arrives before the zone's deadline minus a safety margin; otherwise the fastest level-2 team that
does (level 1 is informed); if nobody can, the fastest team overall, flagged "at risk". Every
candidate's line in the record says in words why it was or was not chosen — offices audit it.

No I/O: the service passes in candidates with travel times from ``geo`` and stores the record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

LEVEL_NAMES = {1: "维保单位", 2: "救援站/其他维保单位", 3: "消防救援(119)"}


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The knobs of the rule; each is a setting, and zones may override them."""

    turnout_s: float = 120.0
    safety_margin_s: float = 300.0
    max_per_level: int = 25
    failures_before_escalation: int = 2


@dataclass(frozen=True, slots=True)
class Candidate:
    """A free team and where it would start from."""

    team_id: int
    team_name: str
    organization_id: int
    level: int
    lon: float
    lat: float
    straight_m: float
    position_source: str = "base"  # "gps" when a fix younger than 5 min was used


@dataclass(frozen=True, slots=True)
class Ranked:
    """One line of the ranking record."""

    team_id: int
    team_name: str
    organization_id: int
    level: int
    straight_m: float
    travel_s: float | None
    eta_s: float | None
    makes_deadline: bool
    chosen: bool
    reason: str
    reason_en: str
    position_source: str = "base"
    straight_line_estimate: bool = False

    def as_record(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("straight_m", "travel_s", "eta_s"):
            if out[key] is not None:
                out[key] = round(out[key], 1)
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    chosen: Ranked | None
    at_risk: bool
    inform_level1: bool
    ranking: list[Ranked] = field(default_factory=list)

    def record(self) -> list[dict[str, Any]]:
        return [r.as_record() for r in self.ranking]


def prefilter(candidates: Iterable[Candidate], *, max_per_level: int) -> list[Candidate]:
    """Keep the ``max_per_level`` nearest candidates (straight line) of each level.

    The road router is fast, but the prefilter bounds its work and the record's size whatever
    the registry holds.
    """
    by_level: dict[int, list[Candidate]] = {}
    for c in candidates:
        by_level.setdefault(c.level, []).append(c)
    kept: list[Candidate] = []
    for level in sorted(by_level):
        kept.extend(sorted(by_level[level], key=lambda c: (c.straight_m, c.team_id))
                    [:max_per_level])
    return kept


def _line(c: Candidate, travel_s: float, fallback: bool, config: PolicyConfig,
          time_left_s: float) -> Ranked:
    reachable = math.isfinite(travel_s)
    eta = config.turnout_s + travel_s if reachable else None
    makes = eta is not None and eta <= time_left_s - config.safety_margin_s
    return Ranked(c.team_id, c.team_name, c.organization_id, c.level, c.straight_m,
                  travel_s if reachable else None, eta, makes, False, "", "",
                  c.position_source, fallback)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def decide(
    candidates: Sequence[Candidate],
    travel_s: Sequence[float],
    *,
    time_left_s: float,
    config: PolicyConfig,
    min_level: int = 1,
    straight_line: Sequence[bool] | None = None,
) -> Decision:
    """Choose a team among ``candidates`` (already prefiltered) with their road travel times.

    ``time_left_s`` is the time until the zone's arrival deadline; ``min_level`` rises as the
    response escalates (after repeated declines or timeouts at a level).
    """
    fallback = straight_line or [False] * len(candidates)
    lines = [_line(c, t, f, config, time_left_s)
             for c, t, f in zip(candidates, travel_s, fallback, strict=True)]

    def fastest(pool: Iterable[Ranked]) -> Ranked | None:
        pool = [r for r in pool if r.eta_s is not None]
        return min(pool, key=lambda r: (r.eta_s, r.level, r.team_id), default=None)

    eligible = [r for r in lines if r.level >= min_level]
    chosen: Ranked | None = None
    at_risk = False
    why_zh = why_en = ""
    for level in (1, 2):
        if level < min_level:
            continue
        best = fastest(r for r in eligible if r.level == level and r.makes_deadline)
        if best is not None:
            chosen = best
            if level == 1:
                why_zh, why_en = "一级响应：维保单位中预计最快到达，且能在时限内到场", (
                    "level 1: fastest team of the maintenance company, arrives within the limit")
            else:
                why_zh = "二级响应：维保单位无法在时限内到场，本队为能按时到场的最快队伍"
                why_en = ("level 2: the maintenance company cannot arrive in time; fastest team "
                          "that can")
            break
    if chosen is None:
        # Fire brigades are not a routine choice: only when levels 1-2 have nobody reachable.
        chosen = fastest(r for r in eligible if r.level < 3) or fastest(eligible)
        if chosen is not None:
            at_risk = not chosen.makes_deadline
            why_zh = "无队伍能在时限内到场：选择预计最快到达的队伍（超时风险）" if at_risk else \
                "按升级后的响应级别选择预计最快到达的队伍"
            why_en = ("nobody can arrive within the limit: fastest team overall (at risk)"
                      if at_risk else "fastest team at the escalated level")

    ranking: list[Ranked] = []
    for r in lines:
        if chosen is not None and r.team_id == chosen.team_id:
            ranking.append(replace(r, chosen=True, reason=why_zh, reason_en=why_en))
            continue
        zh, en = _not_chosen(r, chosen, min_level, time_left_s, config)
        ranking.append(replace(r, reason=zh, reason_en=en))
    ranking.sort(key=lambda r: (not r.chosen, r.level, math.inf if r.eta_s is None else r.eta_s,
                                r.team_id))
    inform = chosen is not None and chosen.level > 1 and any(r.level == 1 for r in lines)
    return Decision(chosen, at_risk, inform, ranking)


def _not_chosen(r: Ranked, chosen: Ranked | None, min_level: int, time_left_s: float,
                config: PolicyConfig) -> tuple[str, str]:
    if r.eta_s is None:
        return "道路网络不可达", "not reachable on the road network"
    if r.level < min_level:
        return (f"已升级至{min_level}级响应，本级不再派单",
                f"response escalated to level {min_level}")
    eta = _minutes(r.eta_s)
    if chosen is not None and chosen.makes_deadline:
        if not r.makes_deadline:
            available = _minutes(time_left_s - config.safety_margin_s)
            return (f"预计 {eta} 分钟到达，超过可用时间 {available} 分钟",
                    f"ETA {eta} min exceeds the {available} min available")
        if r.level > chosen.level:
            return (f"{chosen.level}级队伍可按时到场，无需{r.level}级响应",
                    f"a level-{chosen.level} team arrives in time")
    if r.level == 3 and chosen is not None and chosen.level < 3:
        return ("消防救援仅在一、二级无法响应时派出",
                "fire brigade only when levels 1-2 cannot respond")
    return f"预计 {eta} 分钟到达，慢于选中队伍", f"ETA {eta} min, slower than the chosen team"


def escalation_level(failures_by_level: dict[int, int], *, config: PolicyConfig,
                     start_level: int = 1) -> int:
    """The lowest level still offered after declines/timeouts (two failures → next level)."""
    level = start_level
    while level < 3 and failures_by_level.get(level, 0) >= config.failures_before_escalation:
        level += 1
    return level


def note_expired_contract(decision: Decision, organization_id: int | None, until: str
                          ) -> Decision:
    """The elevator's maintenance contract ended on ``until``: its company answers at level 2.

    The record says so on the chosen line and on the company's own lines, so an office reading
    the audit sees why level 1 was never offered.
    """
    zh = f"维保合同已于{until}到期，无一级响应单位，从二级响应开始"
    en = f"maintenance contract ended {until}: no level-1 company, response starts at level 2"
    lines = [replace(r, reason=f"{r.reason}；{zh}", reason_en=f"{r.reason_en}; {en}")
             if r.chosen or r.organization_id == organization_id else r
             for r in decision.ranking]
    chosen = next((r for r in lines if r.chosen), None)
    return replace(decision, chosen=chosen, ranking=lines, inform_level1=False)
