"""What aftercare does, written through a unit of work: record a relapse (the case closes) and the employment or
loan support given during management; and the cases a commune manages. No HTTP here: routes parse and translate the
errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.aftercare import db, domain
from services.aftercare.domain import CaseNotFoundError
from services.aftercare.models import AftercareCase, Support
from shared.api import Day
from shared.auth import Principal, require_unit
from shared.events import Employed, EmployedEvent, Relapsed, RelapsedEvent, new_event
from shared.events import Support as SupportKind
from shared.unit_of_work import UnitOfWork


class RelapseIn(BaseModel):
    detected_on: Day


class EmploymentIn(BaseModel):
    employed_on: Day
    support: SupportKind = Field(description="job_placement, self_employment or loan.")


@dataclass(frozen=True)
class CaseRecord:
    """A case and the support given during it, oldest first."""

    case: AftercareCase
    supports: Sequence[Support]


async def record_relapse(
    uow: UnitOfWork, principal: Principal, episode_id: str, relapse: RelapseIn
) -> tuple[CaseRecord, bool]:
    """Close the case on a relapse; the case, and whether this call recorded it (False: the same relapse before)."""
    s = uow.session
    case = await _case(s, principal, episode_id, lock=True)
    if (case.closed_reason, case.closed_on) == ("relapsed", relapse.detected_on):
        return await _record(s, case), False
    domain.check_open(db.state_of(case), relapse.detected_on, "detected_on")
    relapsed = Relapsed(episode_id=episode_id, detected_on=relapse.detected_on, unit=case.unit)
    event = new_event(relapsed, subject=case.subject, source=principal.source)
    assert isinstance(event, RelapsedEvent)
    db.close_case(case, event.data.detected_on)
    await uow.publish(event)
    await uow.audit(principal, "record_relapse", episode_id)
    return await _record(s, case), True


async def record_employment(
    uow: UnitOfWork, principal: Principal, episode_id: str, employment: EmploymentIn
) -> tuple[CaseRecord, bool]:
    """Add support to an open case; the case, and whether this call recorded it (False: the same support before)."""
    s = uow.session
    case = await _case(s, principal, episode_id, lock=True)
    supports = await db.supports_of(s, episode_id)
    if any((x.support, x.employed_on) == (employment.support, employment.employed_on) for x in supports):
        return CaseRecord(case, supports), False
    domain.check_open(db.state_of(case), employment.employed_on, "employed_on")
    employed = Employed(
        episode_id=episode_id, employed_on=employment.employed_on, support=employment.support, unit=case.unit
    )
    event = new_event(employed, subject=case.subject, source=principal.source)
    assert isinstance(event, EmployedEvent)
    await db.add_support(s, event.data)
    await uow.publish(event)
    await uow.audit(principal, "record_employment", episode_id)
    return await _record(s, case), True


async def list_cases(s: AsyncSession, principal: Principal, unit: str, *, open_only: bool) -> list[CaseRecord]:
    """The cases of a commune/ward within the caller's jurisdiction, oldest first."""
    require_unit(principal, unit)
    return [await _record(s, c) for c in await db.list_cases(s, unit, open_only=open_only)]


async def get_case(s: AsyncSession, principal: Principal, episode_id: str) -> CaseRecord:
    """A case within the caller's jurisdiction."""
    return await _record(s, await _case(s, principal, episode_id))


async def _case(s: AsyncSession, principal: Principal, episode_id: str, *, lock: bool = False) -> AftercareCase:
    case = await db.get_case(s, episode_id, lock=lock)
    if case is None:
        raise CaseNotFoundError("no post-treatment management follows that episode_id (yet)")
    require_unit(principal, case.unit)
    return case


async def _record(s: AsyncSession, case: AftercareCase) -> CaseRecord:
    return CaseRecord(case, await db.supports_of(s, case.episode_id))
