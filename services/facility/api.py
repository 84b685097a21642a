"""Facility's HTTP endpoints: the registry (agencies register their facilities, with the places each offers per
modality), the census, transfers and discharges of residents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.facility import usecases
from services.facility.models import Facility
from services.facility.usecases import DischargeIn, FacilityIn, NewFacilityIn, Residence, TransferIn
from shared.api import IsoDay, Sessions, Writes, answer_created, refusals
from shared.auth import CurrentPrincipal
from shared.events import ID_PATTERN
from shared.parking import Parking

router = APIRouter(prefix="/v1", tags=["facility"])
FacilityId = Annotated[str, Path(pattern=ID_PATTERN, description="The facility.")]
EpisodeId = Annotated[str, Path(pattern=ID_PATTERN, description="The episode.")]


async def _parking(request: Request) -> Parking:
    # async: FastAPI runs a plain function in a thread
    parking: Parking = request.app.state.parking
    return parking


#: The service's parked events, which a registration releases.
Waiting = Annotated[Parking, Depends(_parking)]


class FacilityOut(NewFacilityIn):
    updated_at: datetime


class CensusOut(BaseModel):
    facility_id: str
    on: date
    residents: dict[str, int] = Field(description="Residents present that day, by modality.")
    capacity: dict[str, int] = Field(description="Places per modality offered.")


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


@router.post(
    "/facilities",
    status_code=status.HTTP_201_CREATED,
    response_model=FacilityOut,
    responses=refusals(403, 409),
    summary="Register a facility; announces it (`facility_registered`) so intake may admit there",
)
async def register_facility(
    body: NewFacilityIn, principal: CurrentPrincipal, work: Writes, waiting: Waiting
) -> FacilityOut:
    async with work() as uow:
        facility, _ = await usecases.save_facility(uow, principal, waiting, body.facility_id, body, new_only=True)
    return _facility_out(facility)


@router.put(
    "/facilities/{facility_id}",
    status_code=status.HTTP_200_OK,
    response_model=FacilityOut,
    responses={201: {"model": FacilityOut, "description": "Registered"}, **refusals(403)},
    summary="Register a facility or replace its entry (name, ward, places per modality); announces a change",
)
async def put_facility(
    facility_id: FacilityId,
    body: FacilityIn,
    principal: CurrentPrincipal,
    work: Writes,
    waiting: Waiting,
    response: Response,
) -> FacilityOut:
    async with work() as uow:
        facility, created = await usecases.save_facility(uow, principal, waiting, facility_id, body)
    answer_created(response, created)
    return _facility_out(facility)


@router.get("/facilities", response_model=list[FacilityOut], responses=refusals(), summary="Every registered facility")
async def list_facilities(principal: CurrentPrincipal, sessions: Sessions) -> list[FacilityOut]:
    async with sessions() as s:
        return [_facility_out(f) for f in await usecases.list_facilities(s)]


@router.get(
    "/facilities/{facility_id}", response_model=FacilityOut, responses=refusals(404), summary="One registered facility"
)
async def get_facility(facility_id: FacilityId, principal: CurrentPrincipal, sessions: Sessions) -> FacilityOut:
    async with sessions() as s:
        return _facility_out(await usecases.get_facility(s, facility_id))


@router.get(
    "/census",
    response_model=CensusOut,
    responses=refusals(403, 404),
    summary="Residents of a facility on a day, by modality, and its places",
)
async def get_census(
    principal: CurrentPrincipal,
    sessions: Sessions,
    facility_id: Annotated[str, Query(pattern=ID_PATTERN, description="The facility.")],
    on: Annotated[IsoDay, Query(description="The day, YYYY-MM-DD.")],
) -> CensusOut:
    async with sessions() as s:
        facility, residents = await usecases.get_census(s, principal, facility_id, on)
    return CensusOut(facility_id=facility_id, on=on, residents=residents, capacity=facility.capacity)


@router.get(
    "/episodes/{episode_id}",
    response_model=ResidentOut,
    responses=refusals(403, 404),
    summary="A resident's episode: where they stayed, and their discharge",
)
async def get_resident(episode_id: EpisodeId, principal: CurrentPrincipal, sessions: Sessions) -> ResidentOut:
    async with sessions() as s:
        return _resident_out(await usecases.get_resident(s, principal, episode_id))


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
    episode_id: EpisodeId, body: TransferIn, principal: CurrentPrincipal, work: Writes, response: Response
) -> ResidentOut:
    async with work() as uow:
        residence, created = await usecases.transfer(uow, principal, episode_id, body)
    answer_created(response, created)
    return _resident_out(residence)


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
    episode_id: EpisodeId, body: DischargeIn, principal: CurrentPrincipal, work: Writes, response: Response
) -> ResidentOut:
    async with work() as uow:
        residence, created = await usecases.discharge(uow, principal, episode_id, body)
    answer_created(response, created)
    return _resident_out(residence)


def _facility_out(f: Facility) -> FacilityOut:
    return FacilityOut.model_validate(f, from_attributes=True)


def _resident_out(r: Residence) -> ResidentOut:
    resident = r.resident
    return ResidentOut(
        episode_id=resident.episode_id,
        subject=resident.subject,
        modality=resident.modality,
        unit=resident.unit,
        admitted_on=resident.admitted_on,
        facility_id=resident.facility_id,
        discharged_on=resident.discharged_on,
        outcome=resident.outcome,
        stays=[StayOut.model_validate(s, from_attributes=True) for s in r.stays],
    )
