"""What facility does, written through a unit of work: register facilities (announcing each change so intake knows
where each modality may be admitted), transfer and discharge residents; and what it answers: the registry, the
census, a resident's stays. No HTTP here: routes parse and translate the errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.facility import db, domain
from services.facility.domain import FacilityExistsError, FacilityNotFoundError, ResidentNotFoundError
from services.facility.models import Facility, Resident
from shared import units
from shared.api import Day, Text, Ward
from shared.auth import Principal, require_unit
from shared.events import (
    Completed,
    CompletedEvent,
    FacilityModality,
    FacilityRegistered,
    Identifier,
    Outcome,
    Transferred,
    TransferredEvent,
    new_event,
)
from shared.parking import Parking
from shared.unit_of_work import UnitOfWork

Places = Annotated[int, Field(ge=0, le=100_000)]


class FacilityIn(BaseModel):
    name: Text = Field(min_length=1, max_length=200, description="Official name of the facility.")
    unit: Ward = Field(description="The commune/ward the facility is in; its agencies manage the entry.")
    capacity: dict[FacilityModality, Places] = Field(
        min_length=1, description="Places per modality offered; the modalities the facility offers are its keys."
    )


class NewFacilityIn(FacilityIn):
    facility_id: Identifier = Field(description="The facility's identifier, chosen by the registering agency.")


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


@dataclass(frozen=True)
class Residence:
    """A resident and where they stayed, in order."""

    resident: Resident
    stays: list[domain.Stay]


async def save_facility(
    uow: UnitOfWork,
    principal: Principal,
    waiting: Parking,
    facility_id: str,
    entry: FacilityIn,
    *,
    new_only: bool = False,
) -> tuple[Facility, bool]:
    """Write the entry unless it is unchanged, announce it, and admit whoever waited for it; the entry, and whether
    this call registered the facility (False: it was registered before)."""
    require_unit(principal, entry.unit)
    s = uow.session
    existing = await db.get_facility(s, facility_id, lock=True)
    if existing is not None:
        if new_only:
            raise FacilityExistsError("facility_id is registered already; PUT changes it")
        require_unit(principal, existing.unit)
        if (existing.name, existing.unit, existing.capacity) == (entry.name, entry.unit, entry.capacity):
            return existing, False
    capacity = {str(m): n for m, n in entry.capacity.items()}
    saved = await db.save_facility(s, facility_id, entry.name, entry.unit, capacity)
    registered = FacilityRegistered(
        facility_id=facility_id,
        name=entry.name,
        unit=entry.unit,
        capacity=entry.capacity,
        recorded_on=datetime.now(UTC).date(),
    )
    await uow.publish(new_event(registered, subject=domain.facility_subject(facility_id), source=principal.source))
    await uow.audit(principal, "register_facility" if existing is None else "change_facility", facility_id)
    await waiting.release(s, [domain.awaiting_registration(facility_id)])
    return saved, existing is None


async def transfer(uow: UnitOfWork, principal: Principal, episode_id: str, move: TransferIn) -> tuple[Residence, bool]:
    """Move a resident to another facility; the resident, and whether this call moved them (False: the same transfer
    was recorded before)."""
    s = uow.session
    resident = await _resident(s, episode_id, lock=True)
    await _require_facility_unit(s, principal, resident.facility_id)
    stays = await db.stays_of(s, episode_id)
    current = domain.open_stay(stays)
    if current is not None and (current.facility_id, current.started_on) == (move.to_facility_id, move.transferred_on):
        return await _residence(s, resident), False
    transferred = Transferred.model_validate(
        {**move.model_dump(), "episode_id": episode_id, "from_facility_id": resident.facility_id}
    )
    target = await db.get_facility(s, move.to_facility_id, lock=True)
    occupied = (await db.census(s, move.to_facility_id, move.transferred_on)).get(resident.modality, 0)
    capacity = target.capacity if target else None
    domain.check_transfer(stays, move.transferred_on, move.to_facility_id, capacity, occupied)
    event = new_event(transferred, subject=resident.subject, source=principal.source)
    assert isinstance(event, TransferredEvent)
    d = event.data
    if (after := domain.move(stays, d.transferred_on, d.from_facility_id, d.to_facility_id)) is not None:
        await db.move_resident(s, resident, after)
    await uow.publish(event)
    await uow.audit(principal, "transfer", episode_id)
    return await _residence(s, resident), True


async def discharge(uow: UnitOfWork, principal: Principal, episode_id: str, end: DischargeIn) -> tuple[Residence, bool]:
    """Discharge a resident; the resident, and whether this call discharged them (False: the same discharge was
    recorded before)."""
    s = uow.session
    resident = await _resident(s, episode_id, lock=True)
    await _require_facility_unit(s, principal, resident.facility_id)
    if (resident.discharged_on, resident.outcome) == (end.completed_on, end.outcome):
        return await _residence(s, resident), False
    stays = await db.stays_of(s, episode_id)
    domain.check_discharge(stays, end.completed_on)
    completed = Completed.model_validate({**end.model_dump(), "episode_id": episode_id})
    event = new_event(completed, subject=resident.subject, source=principal.source)
    assert isinstance(event, CompletedEvent)
    d = event.data
    if (after := domain.leave(stays, d.completed_on)) is not None:
        await db.discharge_resident(s, resident, after, d.completed_on, d.outcome)
    await uow.publish(event)
    await uow.audit(principal, "discharge", episode_id)
    return await _residence(s, resident), True


async def list_facilities(s: AsyncSession) -> Sequence[Facility]:
    return await db.list_facilities(s)


async def get_facility(s: AsyncSession, facility_id: str) -> Facility:
    facility = await db.get_facility(s, facility_id)
    if facility is None:
        raise FacilityNotFoundError("no facility has that facility_id")
    return facility


async def get_census(
    s: AsyncSession, principal: Principal, facility_id: str, on: date
) -> tuple[Facility, dict[str, int]]:
    """A facility within the caller's jurisdiction, and its residents on a day by modality."""
    facility = await get_facility(s, facility_id)
    require_unit(principal, facility.unit)
    return facility, await db.census(s, facility_id, on)


async def get_resident(s: AsyncSession, principal: Principal, episode_id: str) -> Residence:
    """A resident whose ward, or whose facility's, is within the caller's jurisdiction."""
    resident = await _resident(s, episode_id)
    if not principal.covers(resident.unit):
        await _require_facility_unit(s, principal, resident.facility_id)
    return await _residence(s, resident)


async def _resident(s: AsyncSession, episode_id: str, *, lock: bool = False) -> Resident:
    resident = await db.get_resident(s, episode_id, lock=lock)
    if resident is None:
        raise ResidentNotFoundError("the episode has no resident here (yet)")
    return resident


async def _require_facility_unit(s: AsyncSession, principal: Principal, facility_id: str) -> None:
    """403 unless the facility's ward is within the caller's jurisdiction (an unregistered one: the country's)."""
    facility = await db.get_facility(s, facility_id)
    require_unit(principal, facility.unit if facility is not None else units.COUNTRY)


async def _residence(s: AsyncSession, resident: Resident) -> Residence:
    return Residence(resident, await db.stays_of(s, resident.episode_id))
