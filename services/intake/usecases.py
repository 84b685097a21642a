"""What intake does, written through a unit of work: register a person under a pseudonym, admit them into a
treatment modality, end treatment in the community. No HTTP here: routes parse and translate the errors."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import db, domain
from services.intake.domain import EpisodeNotFoundError, PersonNotRegisteredError
from services.intake.models import Episode, Person
from shared.api import Day, InvalidFieldError, Text, Ward
from shared.auth import Principal, require_unit
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
from shared.unit_of_work import UnitOfWork


class PersonIn(BaseModel):
    national_id: str = Field(
        pattern=r"^(\d{9}|\d{12})$",
        description="National ID number (12-digit CCCD or 9-digit CMND); never stored, only its pseudonym.",
    )
    sex: Sex
    birth_year: int = Field(ge=1900, le=date.today().year, description="Year of birth.")
    residence_unit: Ward


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


class CompletionIn(BaseModel):
    completed_on: Day
    outcome: Outcome
    vocational_training: Text | None = Field(
        default=None, min_length=1, max_length=120, description="Trade learned during treatment, if any."
    )
    return_unit: Ward = Field(description="The commune/ward the person returns to.")


async def register_person(uow: UnitOfWork, principal: Principal, person: PersonIn, key: bytes) -> tuple[str, bool]:
    """The person's subject, and whether this call registered them (False: registered before)."""
    require_unit(principal, person.residence_unit)
    subject = domain.pseudonymise(person.national_id, key)
    created = await db.register_person(uow.session, subject, person.sex, person.birth_year, person.residence_unit)
    if created:
        await uow.audit(principal, "register_person", f"ward {person.residence_unit}")
    return subject, created


async def admit(uow: UnitOfWork, principal: Principal, admission: AdmissionIn) -> tuple[Episode, bool]:
    """The episode the admission opened, and whether this call opened it (False: the same admission before)."""
    require_unit(principal, admission.unit)
    if problem := domain.place_problem(admission.modality, admission.facility_id, admission.service_point_id):
        raise InvalidFieldError(*problem)
    s = uow.session
    person = await db.lock_person(s, admission.subject)  # the person's admissions are decided one at a time
    if person is None:
        raise PersonNotRegisteredError("subject is not registered; POST /v1/persons first")
    if (existing := await db.find_episode(s, admission.subject, admission.modality, admission.admitted_on)) is not None:
        return existing, False
    event = new_event(await _decide(s, admission, person), subject=admission.subject, source=principal.source)
    assert isinstance(event, AdmittedEvent)
    if not await db.insert_episode(s, event.data, event.subject, principal.agency):
        # An agency published the same admission, consumed in the meantime.
        return await _episode(s, admission), False
    await uow.publish(event)
    await uow.audit(principal, "admit", event.data.episode_id)
    return await _episode(s, admission), True


async def _episode(s: AsyncSession, admission: AdmissionIn) -> Episode:
    episode = await db.find_episode(s, admission.subject, admission.modality, admission.admitted_on)
    assert episode is not None
    return episode


async def _decide(s: AsyncSession, admission: AdmissionIn, person: Person) -> Admitted:
    """The admission the contract and the rules allow, or the refusal of the first rule it breaks."""
    admitted = Admitted.model_validate(
        {
            **admission.model_dump(exclude={"subject"}),
            "episode_id": f"ep-{uuid.uuid4().hex}",
            "sex": Sex(person.sex),
            "birth_year": person.birth_year,
        },
    )
    facility_id = admission.facility_id
    offered = await db.get_offered(s, facility_id) if facility_id is not None else None
    domain.check_facility(admission.modality, facility_id, offered)
    episodes = await db.list_episodes(s, admission.subject)
    domain.check_no_open_residential(admission.modality, episodes)
    previous = domain.previous_episode(admission.previous_episode_id, episodes)
    return admitted.model_copy(update={"previous_episode_id": previous})


async def complete(
    uow: UnitOfWork, principal: Principal, episode_id: str, completion: CompletionIn
) -> tuple[Episode, bool]:
    """End an episode treated in the community; the episode, and whether this call ended it (False: the same end
    was recorded before)."""
    episode = await get_episode(uow.session, principal, episode_id, lock=True)
    if (episode.ended_on, episode.outcome) == (completion.completed_on, completion.outcome):
        return episode, False
    domain.check_community_completion(db.state_of(episode), completion.completed_on)
    completed = Completed.model_validate({"episode_id": episode_id, **completion.model_dump()})
    event = new_event(completed, subject=episode.subject, source=principal.source)
    assert isinstance(event, CompletedEvent)
    await db.end_episodes(uow.session, [event])
    await uow.publish(event)
    await uow.audit(principal, "complete", episode_id)
    await uow.session.refresh(episode)
    return episode, True


async def get_episode(s: AsyncSession, principal: Principal, episode_id: str, *, lock: bool = False) -> Episode:
    """An episode within the caller's jurisdiction."""
    episode = await db.get_episode(s, episode_id, lock=lock)
    if episode is None:
        raise EpisodeNotFoundError("no episode has that episode_id")
    require_unit(principal, episode.unit)
    return episode
