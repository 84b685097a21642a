"""Intake's queries and writes; every write stages its event in the outbox in the same transaction, and records
it in the inbox, so that consuming it back from Kafka changes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.domain import EpisodeState
from services.intake.models import Episode, Facility, Person, outbox
from shared.events import (
    Admitted,
    AdmittedEvent,
    CompletedEvent,
    Event,
    FacilityRegisteredEvent,
    RelapsedEvent,
)
from shared.inbox import claim
from shared.outbox import add_to_outbox
from shared.parking import Applied, Wait, episode


async def register_person(session: AsyncSession, subject: str, sex: str, birth_year: int, residence_unit: str) -> bool:
    """Insert the person unless already registered; True when this call registered them."""
    inserted = await session.execute(
        insert(Person)
        .values(subject=subject, sex=sex, birth_year=birth_year, residence_unit=residence_unit)
        .on_conflict_do_nothing()
        .returning(Person.subject)
    )
    return inserted.first() is not None


async def lock_person(session: AsyncSession, subject: str) -> Person | None:
    """The person, locked until the transaction ends, so that their admissions are decided one at a time."""
    return await session.scalar(select(Person).where(Person.subject == subject).with_for_update())


async def find_episode(session: AsyncSession, subject: str, modality: str, admitted_on: date) -> Episode | None:
    """The episode an identical admission already opened, if any."""
    return await session.scalar(
        select(Episode).where(
            Episode.subject == subject, Episode.modality == modality, Episode.admitted_on == admitted_on
        )
    )


async def get_episode(session: AsyncSession, episode_id: str, *, lock: bool = False) -> Episode | None:
    query = select(Episode).where(Episode.episode_id == episode_id)
    return await session.scalar(query.with_for_update() if lock else query)


def state_of(e: Episode) -> EpisodeState:
    return EpisodeState(
        e.episode_id, e.modality, e.admitted_on, e.facility_id, e.previous_episode_id, e.ended_on, e.relapsed_on
    )


async def list_episodes(session: AsyncSession, subject: str) -> list[EpisodeState]:
    episodes = await session.scalars(select(Episode).where(Episode.subject == subject))
    return [state_of(e) for e in episodes]


async def get_offered(session: AsyncSession, facility_id: str) -> list[str] | None:
    """The modalities a registered facility offers; None when it is not registered."""
    return await session.scalar(select(Facility.modalities).where(Facility.facility_id == facility_id))


async def record_admission(session: AsyncSession, event: AdmittedEvent, recorded_by: str) -> None:
    await _insert_episode(session, event.data, event.subject, recorded_by)
    await add_to_outbox(session, outbox, event)
    await claim(session, [event])


async def record_completion(session: AsyncSession, event: CompletedEvent) -> None:
    await _end(session, event)
    await add_to_outbox(session, outbox, event)
    await claim(session, [event])


async def _insert_episode(session: AsyncSession, admitted: Admitted, subject: str, recorded_by: str) -> None:
    await session.execute(
        insert(Episode)
        .values(
            episode_id=admitted.episode_id,
            subject=subject,
            modality=admitted.modality,
            admitted_on=admitted.admitted_on,
            unit=admitted.unit,
            facility_id=admitted.facility_id,
            substances=list(admitted.substances),
            legal_basis=admitted.legal_basis,
            service_point_id=admitted.service_point_id,
            previous_episode_id=admitted.previous_episode_id,
            recorded_by=recorded_by,
        )
        .on_conflict_do_nothing()
    )


async def _end(session: AsyncSession, event: CompletedEvent) -> bool:
    """Record the end of an episode (the first end recorded stands); False when the episode is unknown."""
    d = event.data
    ended = await session.execute(
        update(Episode)
        .where(Episode.episode_id == d.episode_id)
        .values(
            ended_on=func.coalesce(Episode.ended_on, d.completed_on), outcome=func.coalesce(Episode.outcome, d.outcome)
        )
        .returning(Episode.episode_id)
    )
    return ended.first() is not None


async def _relapse(session: AsyncSession, event: RelapsedEvent) -> bool:
    """Record that a relapse followed an episode; False when the episode is unknown."""
    d = event.data
    relapsed = await session.execute(
        update(Episode)
        .where(Episode.episode_id == d.episode_id)
        .values(relapsed_on=func.coalesce(Episode.relapsed_on, d.detected_on))
        .returning(Episode.episode_id)
    )
    return relapsed.first() is not None


async def _announce(session: AsyncSession, event: FacilityRegisteredEvent) -> None:
    """Keep the newest entry of each facility, whatever order the announcements arrive in."""
    d = event.data
    row = {"unit": d.unit, "modalities": sorted(d.capacity), "announced_at": event.time}
    statement = insert(Facility).values(facility_id=d.facility_id, **row)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Facility.facility_id],
            set_=row,
            where=Facility.announced_at <= statement.excluded.announced_at,
        )
    )


async def apply_event(session: AsyncSession, event: Event) -> Applied | Wait:
    """Learn from the contract's events: admissions agencies published, ends, relapses, registered facilities.
    An end or a relapse of an episode not seen yet waits for its admission."""
    match event:
        case AdmittedEvent():
            await _insert_episode(session, event.data, event.subject, event.source)
            return Applied((episode(event.data.episode_id),))
        case CompletedEvent():
            known = await _end(session, event)
            return Applied((episode(event.data.episode_id),)) if known else Wait(episode(event.data.episode_id))
        case RelapsedEvent():
            known = await _relapse(session, event)
            return Applied((episode(event.data.episode_id),)) if known else Wait(episode(event.data.episode_id))
        case FacilityRegisteredEvent():
            await _announce(session, event)
    return Applied()
