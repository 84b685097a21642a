"""Facility's registry endpoints: agencies register their facilities, with the places each offers per modality;
every change is announced (`facility_registered`) so intake knows where each modality may be admitted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.facility import db, domain
from services.facility.domain import FacilityExistsError, FacilityNotFoundError
from services.facility.models import Facility, audit_log
from shared.api import Text, Ward, refusals
from shared.audit import audit
from shared.auth import CurrentPrincipal, Principal, require_unit
from shared.events import FacilityModality, FacilityRegistered, Identifier, new_event
from shared.parking import Parking
from shared.runtime import Runtime, session

router = APIRouter(prefix="/v1", tags=["facility"])
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session)]
FacilityId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", description="The facility.")]
Places = Annotated[int, Field(ge=0, le=100_000)]


class FacilityIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200, description="Official name of the facility.")
    unit: Ward = Field(description="The commune/ward the facility is in; its agencies manage the entry.")
    capacity: dict[FacilityModality, Places] = Field(
        min_length=1, description="Places per modality offered; the modalities the facility offers are its keys."
    )


class NewFacilityIn(FacilityIn):
    facility_id: Identifier = Field(description="The facility's identifier, chosen by the registering agency.")


class FacilityOut(NewFacilityIn):
    updated_at: datetime


def _runtime(request: Request) -> tuple[Runtime, Parking]:
    return request.app.state.runtime, request.app.state.parking


def _out(f: Facility) -> FacilityOut:
    return FacilityOut.model_validate(f, from_attributes=True)


@router.post(
    "/facilities",
    status_code=status.HTTP_201_CREATED,
    response_model=FacilityOut,
    responses=refusals(403, 409),
    summary="Register a facility; announces it (`facility_registered`) so intake may admit there",
)
async def register_facility(body: NewFacilityIn, principal: CurrentPrincipal, request: Request) -> FacilityOut:
    await _save(request, principal, body.facility_id, body, new_only=True)
    return await _read(request, body.facility_id)


@router.put(
    "/facilities/{facility_id}",
    status_code=status.HTTP_200_OK,
    response_model=FacilityOut,
    responses={201: {"model": FacilityOut, "description": "Registered"}, **refusals(403)},
    summary="Register a facility or replace its entry (name, ward, places per modality); announces a change",
)
async def put_facility(
    facility_id: FacilityId, body: FacilityIn, principal: CurrentPrincipal, request: Request, response: Response
) -> FacilityOut:
    if await _save(request, principal, facility_id, body):
        response.status_code = status.HTTP_201_CREATED
    return await _read(request, facility_id)


async def _save(
    request: Request, principal: Principal, facility_id: str, body: FacilityIn, *, new_only: bool = False
) -> bool:
    """Write the entry unless it is unchanged, announce it, and admit whoever waited for it; True when new."""
    require_unit(principal, body.unit)
    runtime, parking = _runtime(request)
    async with runtime.sessions.begin() as s:
        existing = await db.get_facility(s, facility_id, lock=True)
        if existing is not None:
            if new_only:
                raise FacilityExistsError("facility_id is registered already; PUT changes it")
            require_unit(principal, existing.unit)
            if (existing.name, existing.unit, existing.capacity) == (body.name, body.unit, body.capacity):
                return False
        await db.save_facility(s, facility_id, body.name, body.unit, {str(m): n for m, n in body.capacity.items()})
        registered = FacilityRegistered(
            facility_id=facility_id,
            name=body.name,
            unit=body.unit,
            capacity=body.capacity,
            recorded_on=datetime.now(UTC).date(),
        )
        await db.record(
            s,
            new_event(
                registered, subject=domain.facility_subject(facility_id), source=f"/vn/agency/{principal.agency}"
            ),
        )
        await audit(
            s, audit_log, principal, "register_facility" if existing is None else "change_facility", facility_id
        )
        await parking.release(s, [db.awaiting_facility(facility_id)])
    runtime.relay.wake()
    return existing is None


async def _read(request: Request, facility_id: str) -> FacilityOut:
    async with _runtime(request)[0].sessions() as s:
        facility = await db.get_facility(s, facility_id)
        if facility is None:
            raise FacilityNotFoundError("no facility has that facility_id")
        return _out(facility)


@router.get("/facilities", response_model=list[FacilityOut], responses=refusals(), summary="Every registered facility")
async def list_facilities(principal: CurrentPrincipal, sessions: Sessions) -> list[FacilityOut]:
    async with sessions() as s:
        return [_out(f) for f in await db.list_facilities(s)]


@router.get(
    "/facilities/{facility_id}", response_model=FacilityOut, responses=refusals(404), summary="One registered facility"
)
async def get_facility(facility_id: FacilityId, principal: CurrentPrincipal, request: Request) -> FacilityOut:
    return await _read(request, facility_id)
