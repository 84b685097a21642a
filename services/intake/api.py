"""Intake's HTTP endpoints: register a person, admit them into treatment, end treatment in the community."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake import db, domain
from services.intake.domain import EpisodeNotFoundError, pseudonymise
from services.intake.models import Episode, audit_log
from shared.api import Day, Text, Ward, invalid, refusals
from shared.audit import audit
from shared.auth import CurrentPrincipal, Principal, require_unit
from shared.events import (
    Admitted,
    AdmittedEvent,
    Completed,
    CompletedEvent,
    Identifier,
    Modality,
    Outcome,
    Sex,
    Substance,
    new_event,
)
from shared.runtime import Runtime, session, unprocessable

router = APIRouter(prefix="/v1", tags=["intake"])
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session)]
EpisodeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", description="The episode.")]


class PersonIn(BaseModel):
    national_id: str = Field(
        pattern=r"^(\d{9}|\d{12})$",
        description="National ID number (12-digit CCCD or 9-digit CMND); never stored, only its pseudonym.",
    )
    sex: Sex
    birth_year: int = Field(ge=1900, le=date.today().year, description="Year of birth.")
    residence_unit: Ward


class PersonOut(BaseModel):
    subject: str = Field(description="The person's pseudonym; use it for admissions.")


class AdmissionIn(BaseModel):
    subject: str = Field(pattern=r"^[0-9a-f]{64}$", description="Pseudonym returned by POST /v1/persons.")
    modality: Modality
    admitted_on: Day
    unit: Ward = Field(description="The commune/ward that manages the person.")
    facility_id: Identifier | None = Field(
        default=None,
        description="Registered facility offering the modality: required for residential modalities, "
        "or for methadone dispensed at a facility; absent for voluntary_community.",
    )
    substances: list[Substance] = Field(min_length=1, description="Substances used, the primary first.")
    legal_basis: Text | None = Field(default=None, description="Decision reference; required for compulsory.")
    service_point_id: Identifier | None = Field(
        default=None,
        description="Commune service point: required for voluntary_community, or for methadone dispensed there.",
    )
    previous_episode_id: Identifier | None = Field(
        default=None,
        description="The earlier episode of this person that this admission follows; by default the latest one "
        "followed by a relapse.",
    )


class AdmissionOut(BaseModel):
    episode_id: str
    previous_episode_id: str | None = Field(default=None, description="The earlier episode this one follows.")


class CompletionIn(BaseModel):
    completed_on: Day
    outcome: Outcome
    vocational_training: Text | None = Field(
        default=None, min_length=1, max_length=120, description="Trade learned during treatment, if any."
    )
    return_unit: Ward = Field(description="The commune/ward the person returns to.")


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
    body: PersonIn, principal: CurrentPrincipal, sessions: Sessions, request: Request, response: Response
) -> PersonOut:
    require_unit(principal, body.residence_unit)
    subject = pseudonymise(body.national_id, request.app.state.subject_key)
    async with sessions.begin() as s:
        created = await db.register_person(s, subject, body.sex, body.birth_year, body.residence_unit)
        if created:
            await audit(s, audit_log, principal, "register_person", f"ward {body.residence_unit}")
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
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
async def admit(
    body: AdmissionIn, principal: CurrentPrincipal, sessions: Sessions, request: Request, response: Response
) -> AdmissionOut:
    require_unit(principal, body.unit)
    if problem := domain.place_problem(body.modality, body.facility_id, body.service_point_id):
        raise invalid(*problem)
    runtime: Runtime = request.app.state.runtime
    try:
        async with sessions.begin() as s:
            person = await db.lock_person(s, body.subject)
            if person is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "subject is not registered; POST /v1/persons first")
            existing = await db.find_episode(s, body.subject, body.modality, body.admitted_on)
            if existing is not None:
                response.status_code = status.HTTP_200_OK
                return AdmissionOut(episode_id=existing.episode_id, previous_episode_id=existing.previous_episode_id)
            admitted = await _decide(s, body, person.sex, person.birth_year)
            event = new_event(admitted, subject=body.subject, source=_source(principal))
            assert isinstance(event, AdmittedEvent)
            await db.record_admission(s, event, principal.agency)
            await audit(s, audit_log, principal, "admit", admitted.episode_id)
    except IntegrityError:  # the same admission, posted concurrently, won the race
        async with sessions.begin() as s:
            existing = await db.find_episode(s, body.subject, body.modality, body.admitted_on)
        if existing is None:
            raise
        response.status_code = status.HTTP_200_OK
        return AdmissionOut(episode_id=existing.episode_id, previous_episode_id=existing.previous_episode_id)
    runtime.relay.wake()
    return AdmissionOut(episode_id=admitted.episode_id, previous_episode_id=admitted.previous_episode_id)


async def _decide(s: AsyncSession, body: AdmissionIn, sex: str, birth_year: int) -> Admitted:
    """The admission the contract and the rules allow, or the refusal of the first rule it breaks."""
    try:
        admitted = Admitted.model_validate(
            {
                **body.model_dump(exclude={"subject"}),
                "episode_id": f"ep-{uuid.uuid4().hex}",
                "sex": Sex(sex),
                "birth_year": birth_year,
            },
        )
    except ValidationError as error:
        raise unprocessable(error) from None
    offered = await db.get_offered(s, body.facility_id) if body.facility_id is not None else None
    domain.check_facility(body.modality, body.facility_id, offered)
    episodes = await db.list_episodes(s, body.subject)
    domain.check_no_open_residential(body.modality, episodes)
    previous = domain.previous_episode(body.previous_episode_id, episodes)
    return admitted.model_copy(update={"previous_episode_id": previous})


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
    episode_id: EpisodeId,
    body: CompletionIn,
    principal: CurrentPrincipal,
    sessions: Sessions,
    request: Request,
    response: Response,
) -> EpisodeOut:
    async with sessions.begin() as s:
        episode = await _episode(s, episode_id, principal, lock=True)
        if (episode.ended_on, episode.outcome) == (body.completed_on, body.outcome):
            response.status_code = status.HTTP_200_OK
            return _out(episode)
        domain.check_community_completion(db.state_of(episode), body.completed_on)
        completed = Completed.model_validate({"episode_id": episode_id, **body.model_dump()})
        event = new_event(completed, subject=episode.subject, source=_source(principal))
        assert isinstance(event, CompletedEvent)
        await db.record_completion(s, event)
        await audit(s, audit_log, principal, "complete", episode_id)
        await s.refresh(episode)
    request.app.state.runtime.relay.wake()
    return _out(episode)


@router.get(
    "/episodes/{episode_id}",
    response_model=EpisodeOut,
    responses=refusals(403, 404),
    summary="An episode as intake knows it: admission, end, relapse, the episode it follows",
)
async def get_episode(episode_id: EpisodeId, principal: CurrentPrincipal, sessions: Sessions) -> EpisodeOut:
    async with sessions() as s:
        return _out(await _episode(s, episode_id, principal))


async def _episode(s: AsyncSession, episode_id: str, principal: Principal, *, lock: bool = False) -> Episode:
    episode = await db.get_episode(s, episode_id, lock=lock)
    if episode is None:
        raise EpisodeNotFoundError("no episode has that episode_id")
    require_unit(principal, episode.unit)
    return episode


def _out(e: Episode) -> EpisodeOut:
    return EpisodeOut.model_validate(e, from_attributes=True)


def _source(principal: Principal) -> str:
    return f"/vn/agency/{principal.agency}"
