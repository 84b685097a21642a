"""Aftercare's HTTP endpoints: the cases a commune manages, relapses, employment and loan support."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.aftercare import db, domain
from services.aftercare.domain import CaseNotFoundError
from services.aftercare.models import AftercareCase, audit_log
from shared.api import Day, Ward, refusals
from shared.audit import audit
from shared.auth import CurrentPrincipal, Principal, require_unit
from shared.events import Employed, EmployedEvent, Relapsed, RelapsedEvent, Support, new_event
from shared.runtime import Runtime, session

router = APIRouter(prefix="/v1", tags=["aftercare"])
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session)]
EpisodeId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", description="The treatment episode the case follows.")
]


class RelapseIn(BaseModel):
    detected_on: Day


class EmploymentIn(BaseModel):
    employed_on: Day
    support: Support = Field(description="job_placement, self_employment or loan.")


class SupportOut(BaseModel):
    support: str
    employed_on: date


class CaseOut(BaseModel):
    episode_id: str = Field(description="The treatment episode the case follows.")
    subject: str
    unit: str = Field(description="The commune/ward managing the person.")
    opened_on: date
    closed_on: date | None
    closed_reason: str | None = Field(description="`relapsed`, or null while the case is open.")
    supports: list[SupportOut]


async def _out(s: AsyncSession, case: AftercareCase) -> CaseOut:
    supports = [
        SupportOut(support=x.support, employed_on=x.employed_on) for x in await db.supports_of(s, case.episode_id)
    ]
    return CaseOut(
        episode_id=case.episode_id,
        subject=case.subject,
        unit=case.unit,
        opened_on=case.opened_on,
        closed_on=case.closed_on,
        closed_reason=case.closed_reason,
        supports=supports,
    )


async def _case(s: AsyncSession, episode_id: str, principal: Principal, *, lock: bool = False) -> AftercareCase:
    case = await db.get_case(s, episode_id, lock=lock)
    if case is None:
        raise CaseNotFoundError("no post-treatment management follows that episode_id (yet)")
    require_unit(principal, case.unit)
    return case


@router.get(
    "/cases",
    response_model=list[CaseOut],
    responses=refusals(403),
    summary="The post-treatment management cases of a commune/ward",
)
async def list_cases(
    principal: CurrentPrincipal,
    sessions: Sessions,
    unit: Annotated[Ward, Query(description="The commune/ward.")],
    state: Annotated[Literal["open", "all"], Query(description="Open cases only, or all.")] = "open",
) -> list[CaseOut]:
    require_unit(principal, unit)
    async with sessions() as s:
        return [await _out(s, c) for c in await db.list_cases(s, unit, open_only=state == "open")]


@router.get(
    "/cases/{episode_id}",
    response_model=CaseOut,
    responses=refusals(403, 404),
    summary="One post-treatment management case",
)
async def get_case(episode_id: EpisodeId, principal: CurrentPrincipal, sessions: Sessions) -> CaseOut:
    async with sessions() as s:
        return await _out(s, await _case(s, episode_id, principal))


@router.post(
    "/cases/{episode_id}/relapse",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseOut,
    responses={
        200: {"model": CaseOut, "description": "The same relapse was recorded before"},
        **refusals(403, 404, 409),
    },
    summary="Record a relapse: the case closes, and intake may re-admit the person; emits `relapsed`",
)
async def record_relapse(
    episode_id: EpisodeId, body: RelapseIn, principal: CurrentPrincipal, request: Request, response: Response
) -> CaseOut:
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions.begin() as s:
        case = await _case(s, episode_id, principal, lock=True)
        if (case.closed_reason, case.closed_on) == ("relapsed", body.detected_on):
            response.status_code = status.HTTP_200_OK
            return await _out(s, case)
        domain.check_open(db.state_of(case), body.detected_on, "detected_on")
        relapsed = Relapsed(episode_id=episode_id, detected_on=body.detected_on, unit=case.unit)
        event = new_event(relapsed, subject=case.subject, source=f"/vn/agency/{principal.agency}")
        assert isinstance(event, RelapsedEvent)
        db.close(case, event)
        await db.record(s, event)
        await audit(s, audit_log, principal, "record_relapse", episode_id)
        out = await _out(s, case)
    runtime.relay.wake()
    return out


@router.post(
    "/cases/{episode_id}/employment",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseOut,
    responses={
        200: {"model": CaseOut, "description": "The same support was recorded before"},
        **refusals(403, 404, 409),
    },
    summary="Record employment or loan support given during management; emits `employed`",
)
async def record_employment(
    episode_id: EpisodeId, body: EmploymentIn, principal: CurrentPrincipal, request: Request, response: Response
) -> CaseOut:
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions.begin() as s:
        case = await _case(s, episode_id, principal, lock=True)
        supports = await db.supports_of(s, episode_id)
        if any((x.support, x.employed_on) == (body.support, body.employed_on) for x in supports):
            response.status_code = status.HTTP_200_OK
            return await _out(s, case)
        domain.check_open(db.state_of(case), body.employed_on, "employed_on")
        employed = Employed(episode_id=episode_id, employed_on=body.employed_on, support=body.support, unit=case.unit)
        event = new_event(employed, subject=case.subject, source=f"/vn/agency/{principal.agency}")
        assert isinstance(event, EmployedEvent)
        await db.add_support(s, event)
        await db.record(s, event)
        await audit(s, audit_log, principal, "record_employment", episode_id)
        out = await _out(s, case)
    runtime.relay.wake()
    return out
