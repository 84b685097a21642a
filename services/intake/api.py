"""Intake's HTTP endpoints: register a person, admit them into treatment, end treatment in the community."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, Field

from services.intake import usecases
from services.intake.models import Episode
from services.intake.usecases import AdmissionIn, CompletionIn, PersonIn
from shared.api import Sessions, Writes, answer_created, refusals
from shared.auth import CurrentPrincipal
from shared.events import ID_PATTERN

router = APIRouter(prefix="/v1", tags=["intake"])
EpisodeId = Annotated[str, Path(pattern=ID_PATTERN, description="The episode.")]


class PersonOut(BaseModel):
    subject: str = Field(description="The person's pseudonym; use it for admissions.")


class AdmissionOut(BaseModel):
    episode_id: str
    previous_episode_id: str | None = Field(default=None, description="The earlier episode this one follows.")


class EpisodeOut(BaseModel):
    episode_id: str
    subject: str
    modality: str
    admitted_on: date
    unit: str
    facility_id: str | None
    service_point_id: str | None
    previous_episode_id: str | None
    ended_on: date | None
    outcome: str | None
    relapsed_on: date | None


@router.post(
    "/persons",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOut,
    responses={200: {"model": PersonOut, "description": "Already registered"}, **refusals(403)},
    summary="Register a person under a pseudonym",
)
async def register_person(
    body: PersonIn, principal: CurrentPrincipal, work: Writes, request: Request, response: Response
) -> PersonOut:
    async with work() as uow:
        subject, created = await usecases.register_person(uow, principal, body, request.app.state.subject_key)
    answer_created(response, created)
    return PersonOut(subject=subject)


@router.post(
    "/admissions",
    status_code=status.HTTP_201_CREATED,
    response_model=AdmissionOut,
    responses={
        200: {"model": AdmissionOut, "description": "The same admission was recorded before"},
        **refusals(403, 404, 409),
    },
    summary="Admit a registered person into a treatment modality; emits `admitted`",
    description="Residential modalities need a registered facility offering the modality, and a person holds one "
    "open residential episode at most; compulsory treatment needs a legal basis; voluntary_community takes a "
    "service point, not a facility; methadone is dispensed at a facility or a service point. A re-admission after "
    "a relapse follows the relapsed episode (`previous_episode_id`).",
)
async def admit(body: AdmissionIn, principal: CurrentPrincipal, work: Writes, response: Response) -> AdmissionOut:
    async with work() as uow:
        episode, created = await usecases.admit(uow, principal, body)
    answer_created(response, created)
    return AdmissionOut(episode_id=episode.episode_id, previous_episode_id=episode.previous_episode_id)


@router.post(
    "/episodes/{episode_id}/completion",
    status_code=status.HTTP_201_CREATED,
    response_model=EpisodeOut,
    responses={
        200: {"model": EpisodeOut, "description": "The same end was recorded before"},
        **refusals(403, 404, 409),
    },
    summary="End treatment in the community (voluntary_community, methadone at a service point); emits `completed`",
    description="Facilities record the discharges of their residents (facility service); intake records the end of "
    "episodes that take place in the community.",
)
async def complete(
    episode_id: EpisodeId, body: CompletionIn, principal: CurrentPrincipal, work: Writes, response: Response
) -> EpisodeOut:
    async with work() as uow:
        episode, created = await usecases.complete(uow, principal, episode_id, body)
    answer_created(response, created)
    return _out(episode)


@router.get(
    "/episodes/{episode_id}",
    response_model=EpisodeOut,
    responses=refusals(403, 404),
    summary="An episode as intake knows it: admission, end, relapse, the episode it follows",
)
async def get_episode(episode_id: EpisodeId, principal: CurrentPrincipal, sessions: Sessions) -> EpisodeOut:
    async with sessions() as s:
        return _out(await usecases.get_episode(s, principal, episode_id))


def _out(e: Episode) -> EpisodeOut:
    return EpisodeOut.model_validate(e, from_attributes=True)
