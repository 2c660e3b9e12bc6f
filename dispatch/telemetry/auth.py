"""The device-signature access rule: a route that depends on ``SignedDevice`` accepts only
requests signed with a registered device's secret (no user login)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from dispatch.deps import Now, SessionDep, SettingsDep
from dispatch.errors import Problem
from dispatch.telemetry import signing
from dispatch.telemetry.models import Device


@dataclass(frozen=True, slots=True)
class DeviceCaller:
    id: str
    elevator_id: int
    body: bytes


async def raw_body(request: Request) -> bytes:
    """The exact bytes the device signed (read before any JSON parsing)."""
    return await request.body()


def _unauthorized(title: str, detail: str, field: str) -> Problem:
    return Problem(401, title, detail, field=field,
                   headers={"WWW-Authenticate": 'HMAC-SHA256 realm="devices"'})


def signed_device(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    body: Annotated[bytes, Depends(raw_body)],
    x_device_id: Annotated[str | None, Header(max_length=64)] = None,
    x_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_signature: Annotated[str | None, Header(max_length=128)] = None,
) -> DeviceCaller:
    """Check ``X-Timestamp`` (skew), then ``X-Signature`` against the device's secret.

    Unknown device and wrong signature give the same answer, so ids cannot be probed.
    """
    for name, value in (("X-Device-Id", x_device_id), ("X-Timestamp", x_timestamp),
                        ("X-Signature", x_signature)):
        if not value:
            raise _unauthorized("Missing signature header", f"send the {name} header", name)
    assert x_device_id and x_timestamp and x_signature
    try:
        ts = int(x_timestamp)
    except ValueError:
        raise _unauthorized("Bad timestamp", "X-Timestamp is Unix seconds (an integer)",
                            "X-Timestamp") from None
    skew = abs(now.timestamp() - ts)
    if skew > settings.telemetry_max_skew_s:
        raise Problem(401, "Timestamp outside the allowed window",
                      f"X-Timestamp is {skew:.0f} s from the server clock; at most "
                      f"{settings.telemetry_max_skew_s} s allowed", field="X-Timestamp",
                      server_time=int(now.timestamp()),
                      headers={"WWW-Authenticate": 'HMAC-SHA256 realm="devices"'})
    device = session.get(Device, x_device_id)
    ok = False
    if device is not None and device.active:
        try:
            secret = signing.unseal(device.secret_sealed, request.app.state.secret_key)
        except signing.SealError:
            secret = None
        ok = secret is not None and signing.verify(secret, x_timestamp, body, x_signature)
    if not ok or device is None:
        raise _unauthorized("Bad signature", "unknown device or wrong X-Signature "
                            "(HMAC-SHA256 of timestamp + '.' + body, lowercase hex)",
                            "X-Signature")
    return DeviceCaller(device.id, device.elevator_id, body)


signed_device.__access_roles__ = ("device-signed",)  # type: ignore[attr-defined]

SignedDevice = Annotated[DeviceCaller, Depends(signed_device)]
