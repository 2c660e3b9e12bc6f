"""The partner-key access rule: ``Authorization: Bearer <partner API key>`` (no user login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from dispatch.deps import SessionDep
from dispatch.errors import Problem
from dispatch.partners.models import Partner
from dispatch.partners.service import authenticate


def partner_key(session: SessionDep,
                authorization: Annotated[str | None, Header(max_length=200)] = None) -> Partner:
    """The calling partner; an unknown, disabled or missing key is one and the same 401."""
    scheme, _, key = (authorization or "").partition(" ")
    partner = authenticate(session, key.strip()) if scheme.lower() == "bearer" and key else None
    if partner is None:
        raise Problem(401, "Invalid partner key", "send Authorization: Bearer <partner API key>",
                      field="Authorization",
                      headers={"WWW-Authenticate": 'Bearer realm="partners"'})
    return partner


partner_key.__access_roles__ = ("partner-key",)  # type: ignore[attr-defined]

PartnerCaller = Annotated[Partner, Depends(partner_key)]
