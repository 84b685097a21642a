"""Facility's HTTP endpoints for residents: the census, transfers and discharges (the registry: `registry.py`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.facility import db, domain
from services.facility.domain import FacilityNotFoundError, ResidentNotFoundError
from services.facility.models import Resident, audit_log
from shared import units
from shared.api import Day, IsoDay, Text, Ward, refusals
from shared.audit import audit
from shared.auth import CurrentPrincipal, Principal, require_unit
from shared.events import (
    Completed,
    CompletedEvent,
    Identifier,
    Outcome,
    Transferred,
    TransferredEvent,
    new_event,
)
from shared.runtime import Runtime, session, unprocessable

router = APIRouter(prefix="/v1", tags=["facility"])
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session)]
_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
EpisodeId = Annotated[str, Path(pattern=_ID, description="The episode.")]
_Data = TypeVar("_Data", Transferred, Completed)


class CensusOut(BaseModel):
    facility_id: str
    on: date
    residents: dict[str, int] = Field(description="Residents present that day, by modality.")
    capacity: dict[str, int] = Field(description="Places per modality offered.")


class TransferIn(BaseModel):
    transferred_on: Day
    to_facility_id: Identifier = Field(description="Registered facility the resident moves to.")
    reason: Text = Field(min_length=1, max_length=200, description="Why the resident is moved.")


class DischargeIn(BaseModel):
    completed_on: Day
    outcome: Outcome
    vocational_training: Text | None = Field(
        default=None, min_length=1, max_length=120, description="Trade learned during treatment, if any."
    )
    return_unit: Ward = Field(description="The commune/ward the person returns to.")


class StayOut(BaseModel):
    facility_id: str
    modality: str
    started_on: date
    ended_on: date | None = Field(description="The day the resident left; null while there.")


class ResidentOut(BaseModel):
    episode_id: str
    subject: str
    modality: str
    unit: str = Field(description="The commune/ward that manages the person.")
    admitted_on: date
    facility_id: str = Field(description="Where the resident is, or was last.")
    discharged_on: date | None
    outcome: str | None
    stays: list[StayOut]


def _source(principal: Principal) -> str:
    return f"/vn/agency/{principal.agency}"


@router.get(
    "/census",
    response_model=CensusOut,
    responses=refusals(403, 404),
    summary="Residents of a facility on a day, by modality, and its places",
)
async def get_census(
    principal: CurrentPrincipal,
    sessions: Sessions,
    facility_id: Annotated[str, Query(pattern=_ID, description="The facility.")],
    on: Annotated[IsoDay, Query(description="The day, YYYY-MM-DD.")],
) -> CensusOut:
    async with sessions() as s:
        facility = await db.get_facility(s, facility_id)
        if facility is None:
            raise FacilityNotFoundError("no facility has that facility_id")
        require_unit(principal, facility.unit)
        residents = await db.census(s, facility_id, on)
    return CensusOut(facility_id=facility_id, on=on, residents=residents, capacity=facility.capacity)


@router.get(
    "/episodes/{episode_id}",
    response_model=ResidentOut,
    responses=refusals(403, 404),
    summary="A resident's episode: where they stayed, and their discharge",
)
async def get_resident(episode_id: EpisodeId, principal: CurrentPrincipal, sessions: Sessions) -> ResidentOut:
    async with sessions() as s:
        resident = await _resident(s, episode_id)
        if not principal.covers(resident.unit):
            await _require_facility_unit(s, principal, resident.facility_id)
        return await _resident_out(s, resident)


@router.post(
    "/episodes/{episode_id}/transfer",
    status_code=status.HTTP_201_CREATED,
    response_model=ResidentOut,
    responses={
        200: {"model": ResidentOut, "description": "The same transfer was recorded before"},
        **refusals(403, 404, 409),
    },
    summary="Move a resident to another facility, if it offers the modality and has a place; emits `transferred`",
)
async def transfer(
    episode_id: EpisodeId,
    body: TransferIn,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> ResidentOut:
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions.begin() as s:
        resident = await _resident(s, episode_id, lock=True)
        await _require_facility_unit(s, principal, resident.facility_id)
        stays = await db.stays_of(s, episode_id)
        current = domain.open_stay(stays)
        if current is not None and (current.facility_id, current.started_on) == (
            body.to_facility_id,
            body.transferred_on,
        ):
            response.status_code = status.HTTP_200_OK
            return await _resident_out(s, resident)
        transferred = _valid(
            Transferred, {**body.model_dump(), "episode_id": episode_id, "from_facility_id": resident.facility_id}
        )
        target = await db.get_facility(s, body.to_facility_id, lock=True)
        occupied = (await db.census(s, body.to_facility_id, body.transferred_on)).get(resident.modality, 0)
        domain.check_transfer(
            stays, body.transferred_on, body.to_facility_id, target.capacity if target else None, occupied
        )
        event = new_event(transferred, subject=resident.subject, source=_source(principal))
        assert isinstance(event, TransferredEvent)
        await db.transfer(s, resident, event)
        await db.record(s, event)
        await audit(s, audit_log, principal, "transfer", episode_id)
        out = await _resident_out(s, resident)
    runtime.relay.wake()
    return out


@router.post(
    "/episodes/{episode_id}/discharge",
    status_code=status.HTTP_201_CREATED,
    response_model=ResidentOut,
    responses={
        200: {"model": ResidentOut, "description": "The same discharge was recorded before"},
        **refusals(403, 404, 409),
    },
    summary="Discharge a resident: treatment ended, with its outcome and the ward they return to; emits `completed`",
)
async def discharge(
    episode_id: EpisodeId,
    body: DischargeIn,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> ResidentOut:
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions.begin() as s:
        resident = await _resident(s, episode_id, lock=True)
        await _require_facility_unit(s, principal, resident.facility_id)
        if (resident.discharged_on, resident.outcome) == (body.completed_on, body.outcome):
            response.status_code = status.HTTP_200_OK
            return await _resident_out(s, resident)
        domain.check_discharge(await db.stays_of(s, episode_id), body.completed_on)
        completed = _valid(Completed, {**body.model_dump(), "episode_id": episode_id})
        event = new_event(completed, subject=resident.subject, source=_source(principal))
        assert isinstance(event, CompletedEvent)
        await db.discharge(s, resident, event)
        await db.record(s, event)
        await audit(s, audit_log, principal, "discharge", episode_id)
        out = await _resident_out(s, resident)
    runtime.relay.wake()
    return out


def _valid(model: type[_Data], fields: dict[str, object]) -> _Data:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise unprocessable(error) from None


async def _resident(s: AsyncSession, episode_id: str, *, lock: bool = False) -> Resident:
    resident = await db.get_resident(s, episode_id, lock=lock)
    if resident is None:
        raise ResidentNotFoundError("the episode has no resident here (yet)")
    return resident


async def _require_facility_unit(s: AsyncSession, principal: Principal, facility_id: str) -> None:
    """403 unless the facility's ward is within the caller's jurisdiction (an unregistered one: the country's)."""
    facility = await db.get_facility(s, facility_id)
    require_unit(principal, facility.unit if facility is not None else units.COUNTRY)


async def _resident_out(s: AsyncSession, resident: Resident) -> ResidentOut:
    stays = [StayOut.model_validate(st, from_attributes=True) for st in await db.stays_of(s, resident.episode_id)]
    return ResidentOut(
        episode_id=resident.episode_id,
        subject=resident.subject,
        modality=resident.modality,
        unit=resident.unit,
        admitted_on=resident.admitted_on,
        facility_id=resident.facility_id,
        discharged_on=resident.discharged_on,
        outcome=resident.outcome,
        stays=stays,
    )
