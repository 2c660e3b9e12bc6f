"""Registry lookups for operators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.deps import SessionDep, Staff
from dispatch.elevators import service
from dispatch.elevators.schemas import ElevatorOut
from dispatch.errors import Problem
from dispatch.security.ids import Id

router = APIRouter(prefix="/api/v1/elevators", tags=["elevators"])


@router.get("/lookup", response_model=list[ElevatorOut])
def lookup(
    _: Staff,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=100,
                            description="rescue code, registration code or address words")],
) -> list[ElevatorOut]:
    return service.elevators_out(service.lookup_elevators(session, q))


@router.get("/{elevator_id}", response_model=ElevatorOut)
def read(elevator_id: Id, _: Staff, session: SessionDep) -> ElevatorOut:
    elevator = service.get_elevator(session, elevator_id)
    if elevator is None:
        raise Problem(404, "Elevator not found", f"no elevator {elevator_id}",
                      field="elevator_id")
    return service.elevator_out(elevator)
