"""Pure parts: the code table, the rules, signatures and sealed secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.telemetry import codes, rules, signing

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "code", "kind"), [
    ("11", "11", "entrapment"), ("1", "01", "fault"), (" 41 ", "41", "mode"),
    ("Trapped between-floors", "11", "entrapment"), ("平层困人", "11", "entrapment"),
    ("ONE KEY HELP", "90", "button"), ("power cut", "41", "mode"),
    ("door open while running", "R:door_open_running", "retrofit"),
    ("63", "63", "escalator"), ("99", "99", "unknown"), ("R:overspeed", "R:overspeed", "unknown"),
])
def test_lookup(raw: str, code: str, kind: str) -> None:
    got = codes.lookup(raw)
    assert (got.code, got.kind) == (code, kind)


def test_trapped_between_floors_keeps_its_own_name() -> None:
    assert codes.lookup("trapped_between_floors").name_en == "trapped between floors"
    assert codes.lookup("11").name_en == "entrapment"


def test_judge() -> None:
    c = codes.lookup
    assert rules.judge(c("11"), mode="normal", held_s=None, button_hold_s=3).action == "incident"
    assert rules.judge(c("11"), mode="inspection", held_s=None,
                       button_hold_s=3) == rules.Verdict("filter", "inspection_mode")
    assert rules.judge(c("90"), mode="normal", held_s=1, button_hold_s=3).reason == \
        "button_not_held"
    assert rules.judge(c("90"), mode="normal", held_s=3, button_hold_s=3).action == "incident"
    assert rules.judge(c("90"), mode="normal", held_s=True, button_hold_s=3).action == "incident"
    assert rules.judge(c("40"), mode="inspection", held_s=None, button_hold_s=3).action == \
        "recover"
    assert rules.judge(c("43"), mode="inspection", held_s=None, button_hold_s=3).action == \
        "record"
    assert rules.judge(c("zz"), mode="normal", held_s=None, button_hold_s=3).reason == \
        "unknown_code"


def test_recovered_after() -> None:
    assert rules.recovered_after(T0, T0 + timedelta(seconds=60), window_s=60) == 60
    assert rules.recovered_after(T0, T0 + timedelta(seconds=61), window_s=60) is None
    assert rules.recovered_after(T0, T0 - timedelta(seconds=1), window_s=60) is None
    assert rules.recovered_after(None, T0, window_s=60) is None


def test_power_cut_clusters_by_zone_and_gap() -> None:
    gap = timedelta(minutes=10)
    reports = [rules.PowerLost(1, e, T0 + timedelta(minutes=3 * e)) for e in range(5)]
    reports += [rules.PowerLost(1, 1, T0 + timedelta(minutes=13))]  # same lift twice
    reports += [rules.PowerLost(2, 100 + e, T0 + timedelta(minutes=e)) for e in range(4)]
    later = [rules.PowerLost(1, 50 + e, T0 + timedelta(hours=2, minutes=e)) for e in range(5)]
    cuts = rules.power_cuts(reports + later, gap=gap, min_elevators=5)
    assert [(c.zone_id, len(c.elevator_ids)) for c in cuts] == [(1, 5), (1, 5)]
    assert cuts[0].started_at == T0 + timedelta(hours=2)
    assert cuts[1].last_at == T0 + timedelta(minutes=13)
    assert rules.power_cuts(reports[:4], gap=gap, min_elevators=5) == []


def test_order_events_is_stable() -> None:
    assert rules.order_events([T0, T0 - timedelta(seconds=1), T0]) == [1, 0, 2]


def test_signature_is_hmac_sha256_hex_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac
    body = b'{"events":[]}'
    expected = hmac.new(b"k3y", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.sign("k3y", "1700000000", body) == expected
    assert signing.verify("k3y", "1700000000", body, expected.upper())
    assert not signing.verify("k3y", "1700000001", body, expected)


def test_sealed_secret_round_trips_and_refuses_another_key_or_tampering() -> None:
    secret = signing.new_secret()
    sealed = signing.seal(secret, "app-secret-A")
    assert secret not in sealed and sealed != signing.seal(secret, "app-secret-A")  # nonce
    assert signing.unseal(sealed, "app-secret-A") == secret
    with pytest.raises(signing.SealError):
        signing.unseal(sealed, "app-secret-B")
    raw = bytearray(sealed.encode())
    raw[10] = ord("A") if raw[10] != ord("A") else ord("B")
    with pytest.raises((signing.SealError, ValueError)):
        signing.unseal(raw.decode(), "app-secret-A")
