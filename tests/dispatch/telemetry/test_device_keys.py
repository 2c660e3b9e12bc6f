"""The MQTT consumer's device keys (issue 19): kept a while, re-read when they expire, and
unsealed again only when the stored secret changed; on SQLite and PostGIS."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from dispatch.telemetry import mqtt, signing
from dispatch.telemetry.models import Device
from tests import factories
from tests.conftest import Api
from tests.dispatch.telemetry.device import register


def _set(api: Api, device_id: str, **values: Any) -> None:
    with api.db() as s:
        s.execute(update(Device).where(Device.id == device_id).values(**values))
        s.commit()


def test_a_refresh_sees_changes_but_unseals_only_a_changed_secret(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    app_secret = api.settings.resolved_secret_key()
    t = register(api, api.user("admin"), _lift(api))
    unsealed: list[str] = []
    real = signing.unseal

    def counting(sealed: str, secret: str) -> str:
        unsealed.append(sealed)
        return real(sealed, secret)

    monkeypatch.setattr(signing, "unseal", counting)
    keys = mqtt.DeviceKeys(app_secret, ttl_s=0.0)  # every lookup is a refresh
    first = keys.get_many(api.db, {t.device_id, "nobody"})
    assert first["nobody"] is None
    k = first[t.device_id]
    assert k is not None and k.secret == t.secret and k.elevator_id == t.elevator_id
    assert len(unsealed) == 1

    other = _lift(api)
    _set(api, t.device_id, elevator_id=other)  # moved to another lift, same secret
    k = keys.get_many(api.db, {t.device_id})[t.device_id]
    assert k is not None and k.elevator_id == other and k.secret == t.secret
    assert len(unsealed) == 1, "an unchanged secret is not unsealed again"

    new = signing.new_secret()
    _set(api, t.device_id, secret_sealed=signing.seal(new, app_secret))
    k = keys.get_many(api.db, {t.device_id})[t.device_id]
    assert k is not None and k.secret == new
    assert len(unsealed) == 2

    _set(api, t.device_id, active=False)
    assert keys.get_many(api.db, {t.device_id})[t.device_id] is None
    _set(api, t.device_id, active=True)
    k = keys.get_many(api.db, {t.device_id})[t.device_id]
    assert k is not None and k.secret == new
    assert len(unsealed) == 3, "a key dropped while inactive is unsealed afresh"


def test_within_its_time_a_key_is_not_read_again(api: Api) -> None:
    t = register(api, api.user("admin"), _lift(api))
    keys = mqtt.DeviceKeys(api.settings.resolved_secret_key(), ttl_s=3600.0)
    before = keys.get_many(api.db, {t.device_id})[t.device_id]
    _set(api, t.device_id, active=False)
    assert keys.get_many(api.db, {t.device_id})[t.device_id] == before


def _lift(api: Api) -> int:
    with api.db() as s:
        lift = factories.make_elevator(s).id
        s.commit()
    return lift
