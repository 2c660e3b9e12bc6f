"""The three-level rule, tested directly (no database, no router)."""

from __future__ import annotations

import math

from dispatch.policy import Candidate, PolicyConfig, decide, escalation_level, prefilter

CFG = PolicyConfig(turnout_s=120, safety_margin_s=300, max_per_level=25)
LIMIT_S = 30 * 60  # time left until the deadline


def cand(team_id: int, level: int, straight_m: float = 1000.0) -> Candidate:
    return Candidate(team_id, f"team{team_id}", 100 + team_id, level, 112.5, 37.8, straight_m)


def test_level1_wins_when_it_makes_the_deadline_even_if_level2_is_faster() -> None:
    cands = [cand(1, 1), cand(2, 1), cand(3, 2)]
    d = decide(cands, [900.0, 600.0, 60.0], time_left_s=LIMIT_S, config=CFG)
    assert d.chosen is not None and d.chosen.team_id == 2
    assert d.chosen.eta_s == 720.0 and d.chosen.makes_deadline
    assert not d.at_risk and not d.inform_level1
    lines = {r.team_id: r for r in d.ranking}
    assert lines[1].reason_en.startswith("ETA") and "slower" in lines[1].reason_en
    assert "level-1 team arrives in time" in lines[3].reason_en
    assert d.ranking[0].chosen and sum(r.chosen for r in d.ranking) == 1


def test_level2_takes_over_when_level1_cannot_arrive_in_time() -> None:
    # 25 min left after the margin: level 1 needs 120 + 1500 s = 27 min.
    cands = [cand(1, 1), cand(2, 2), cand(3, 2)]
    d = decide(cands, [1500.0, 900.0, 700.0], time_left_s=LIMIT_S, config=CFG)
    assert d.chosen is not None and d.chosen.team_id == 3 and d.chosen.level == 2
    assert d.inform_level1 and not d.at_risk
    level1 = next(r for r in d.ranking if r.team_id == 1)
    assert not level1.makes_deadline and "exceeds" in level1.reason_en
    assert "超过可用时间" in level1.reason


def test_nobody_in_time_sends_the_fastest_and_flags_at_risk() -> None:
    cands = [cand(1, 1), cand(2, 2), cand(3, 3)]
    d = decide(cands, [3000.0, 2500.0, 100.0], time_left_s=LIMIT_S, config=CFG)
    # the fire brigade is not a routine choice while a level 1–2 team can go
    assert d.chosen is not None and d.chosen.team_id == 2 and d.at_risk
    fire = next(r for r in d.ranking if r.team_id == 3)
    assert not fire.chosen and "fire brigade" in fire.reason_en


def test_fire_brigade_when_no_other_team_is_reachable() -> None:
    d = decide([cand(1, 1), cand(3, 3)], [math.inf, 400.0], time_left_s=LIMIT_S, config=CFG)
    assert d.chosen is not None and d.chosen.team_id == 3
    unreachable = next(r for r in d.ranking if r.team_id == 1)
    assert unreachable.travel_s is None and unreachable.eta_s is None
    assert "not reachable" in unreachable.reason_en


def test_escalated_level_skips_lower_levels_with_a_reason() -> None:
    cands = [cand(1, 1), cand(2, 2)]
    d = decide(cands, [60.0, 600.0], time_left_s=LIMIT_S, config=CFG, min_level=2)
    assert d.chosen is not None and d.chosen.team_id == 2
    assert "escalated to level 2" in next(r for r in d.ranking if r.team_id == 1).reason_en


def test_level3_only_after_escalation_to_level3() -> None:
    d = decide([cand(1, 2), cand(3, 3)], [60.0, 600.0], time_left_s=LIMIT_S, config=CFG,
               min_level=3)
    assert d.chosen is not None and d.chosen.team_id == 3


def test_no_candidates_no_choice() -> None:
    d = decide([], [], time_left_s=LIMIT_S, config=CFG)
    assert d.chosen is None and d.ranking == []


def test_record_has_the_audit_fields_and_straight_line_flag() -> None:
    d = decide([cand(1, 1)], [600.0], time_left_s=LIMIT_S, config=CFG, straight_line=[True])
    rec = d.record()[0]
    assert set(rec) >= {"team_id", "team_name", "organization_id", "level", "straight_m",
                        "travel_s", "eta_s", "makes_deadline", "chosen", "reason"}
    assert rec["straight_line_estimate"] is True and rec["eta_s"] == 720.0


def test_prefilter_keeps_the_nearest_per_level() -> None:
    cands = [cand(i, 1 + i % 2, straight_m=1000.0 - i) for i in range(60)]
    kept = prefilter(cands, max_per_level=25)
    assert len(kept) == 50
    for level in (1, 2):
        ours = [c for c in kept if c.level == level]
        others = [c for c in cands if c.level == level and c not in ours]
        assert max(c.straight_m for c in ours) <= min(c.straight_m for c in others)


def test_two_failures_escalate_one_level() -> None:
    assert escalation_level({}, config=CFG) == 1
    assert escalation_level({1: 1}, config=CFG) == 1
    assert escalation_level({1: 2}, config=CFG) == 2
    assert escalation_level({1: 2, 2: 2}, config=CFG) == 3
    assert escalation_level({1: 5, 2: 9, 3: 4}, config=CFG) == 3
