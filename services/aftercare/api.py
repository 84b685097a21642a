"""Aftercare's HTTP endpoints: the cases a commune manages, relapses, employment and loan support."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from services.aftercare import usecases
from services.aftercare.usecases import CaseRecord, EmploymentIn, RelapseIn
from shared.api import Sessions, Ward, Writes, answer_created, refusals
from shared.auth import CurrentPrincipal
from shared.events import ID_PATTERN

router = APIRouter(prefix="/v1", tags=["aftercare"])
EpisodeId = Annotated[str, Path(pattern=ID_PATTERN, description="The treatment episode the case follows.")]


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
    async with sessions() as s:
        return [_out(c) for c in await usecases.list_cases(s, principal, unit, open_only=state == "open")]


@router.get(
    "/cases/{episode_id}",
    response_model=CaseOut,
    responses=refusals(403, 404),
    summary="One post-treatment management case",
)
async def get_case(episode_id: EpisodeId, principal: CurrentPrincipal, sessions: Sessions) -> CaseOut:
    async with sessions() as s:
        return _out(await usecases.get_case(s, principal, episode_id))


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
    episode_id: EpisodeId, body: RelapseIn, principal: CurrentPrincipal, work: Writes, response: Response
) -> CaseOut:
    async with work() as uow:
        case, created = await usecases.record_relapse(uow, principal, episode_id, body)
    answer_created(response, created)
    return _out(case)


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
    episode_id: EpisodeId, body: EmploymentIn, principal: CurrentPrincipal, work: Writes, response: Response
) -> CaseOut:
    async with work() as uow:
        case, created = await usecases.record_employment(uow, principal, episode_id, body)
    answer_created(response, created)
    return _out(case)


def _out(record: CaseRecord) -> CaseOut:
    c = record.case
    supports = [SupportOut(support=x.support, employed_on=x.employed_on) for x in record.supports]
    return CaseOut(
        episode_id=c.episode_id,
        subject=c.subject,
        unit=c.unit,
        opened_on=c.opened_on,
        closed_on=c.closed_on,
        closed_reason=c.closed_reason,
        supports=supports,
    )
