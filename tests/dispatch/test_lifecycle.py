import itertools

import pytest

from dispatch import lifecycle as lc


def test_happy_ladder_is_allowed_step_by_step() -> None:
    path = [lc.RECEIVED, lc.CONFIRMED, lc.DISPATCHED, lc.ACCEPTED, lc.EN_ROUTE, lc.ARRIVED,
            lc.RELEASED, lc.CLEARED, lc.CALLBACK_DONE, lc.CLOSED]
    for a, b in itertools.pairwise(path):
        lc.check_transition(a, b)


@pytest.mark.parametrize(("frm", "to"), [
    (lc.RECEIVED, lc.RELEASED), (lc.RECEIVED, lc.CLOSED), (lc.CLOSED, lc.RECEIVED),
    (lc.RELEASED, lc.CANCELLED), (lc.CANCELLED, lc.CONFIRMED), (lc.MERGED, lc.CONFIRMED),
    (lc.ARRIVED, lc.CANCELLED),
])
def test_forbidden_transitions_name_what_is_allowed(frm: str, to: str) -> None:
    with pytest.raises(lc.TransitionError) as err:
        lc.check_transition(frm, to)
    assert err.value.current == frm
    assert err.value.allowed == sorted(lc.allowed_next(frm))
    assert to not in err.value.allowed


def test_terminal_and_active_partition_the_states() -> None:
    assert {lc.CLOSED, lc.CANCELLED, lc.FALSE_ALARM, lc.MERGED} == lc.TERMINAL_STATES
    assert lc.ACTIVE_STATES | lc.TERMINAL_STATES == lc.STATES
    assert not lc.ACTIVE_STATES & lc.TERMINAL_STATES
    assert lc.RELEASED not in lc.MERGEABLE_STATES


def test_every_ladder_state_has_a_timestamp_column() -> None:
    for state in lc.LADDER:
        assert lc.TIMESTAMP_COLUMN[state].endswith("_at")


def test_escalation_can_continue_the_rescue() -> None:
    lc.check_transition(lc.DISPATCHED, lc.ESCALATED)
    lc.check_transition(lc.ESCALATED, lc.ARRIVED)
