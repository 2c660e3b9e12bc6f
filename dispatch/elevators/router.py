"""Registry lookups for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.deps import SessionDep, Staff, ViewerDep
from dispatch.elevators import caller, service
from dispatch.elevators.schemas import CallerElevatorOut, ElevatorOut
from dispatch.errors import Problem
from dispatch.security.ids import Id

router = APIRouter(prefix="/api/v1/elevators", tags=["elevators"])


@router.get("/lookup", response_model=list[ElevatorOut])
def lookup(
    _: Staff,
    viewer: ViewerDep,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=100,
                            description="rescue code, registration code, the caller's phone "
                                        "number or address words")],
) -> list[ElevatorOut]:
    # a caller's past incidents are read only as far as the user may see incidents
    return service.lookup_out(session, service.lookup_elevators(session, q,
                                                                scope=viewer.incidents))


@router.get("/near-codes", response_model=list[ElevatorOut])
def near_codes(
    _: Staff,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=20, description="a rescue code")],
) -> list[ElevatorOut]:
    """Elevators whose rescue code is one typo from ``q`` (one digit different): what the
    console offers when a typed code matches nothing."""
    return service.lookup_out(session, service.near_elevators(session, q))


@router.get("/by-caller", response_model=list[CallerElevatorOut])
def by_caller(
    _: Staff,
    viewer: ViewerDep,
    session: SessionDep,
    phone: Annotated[str, Query(min_length=1, max_length=40,
                                description="caller's number: mobile, landline or E.164")],
) -> list[CallerElevatorOut]:
    """Elevators of the caller's past incidents, most recent first, with the last one's time."""
    normalised = caller.phone_or_none(phone)
    if normalised is None:
        raise Problem(422, "Not a phone number",
                      "use a mobile (13812345678), a landline with area code (0351-1234567) "
                      "or E.164 (+8613812345678)", field="phone")
    return [CallerElevatorOut(elevator=service.elevator_out(e),
                              last_incident_id=h.last_incident_id,
                              last_incident_at=h.last_incident_at, incidents=h.incidents)
            for e, h in service.elevators_of_caller(session, normalised,
                                                    scope=viewer.incidents)]


@router.get("/{elevator_id}", response_model=ElevatorOut)
def read(elevator_id: Id, _: Staff, session: SessionDep) -> ElevatorOut:
    elevator = service.get_elevator(session, elevator_id)
    if elevator is None:
        raise Problem(404, "Elevator not found", f"no elevator {elevator_id}",
                      field="elevator_id")
    return service.elevator_out(elevator)
