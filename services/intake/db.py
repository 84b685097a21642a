"""Intake's named queries and writes; no decisions (those are in usecases.py, handlers.py and domain.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.domain import EpisodeState
from services.intake.models import Episode, Facility, Person
from shared.events import (
    Admitted,
    AdmittedEvent,
    CompletedEvent,
    FacilityRegisteredEvent,
    RelapsedEvent,
)


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


async def insert_episode(session: AsyncSession, admitted: Admitted, subject: str, recorded_by: str) -> bool:
    """Open the episode; False when one with the same natural key (or id) exists already."""
    inserted = await session.execute(
        insert(Episode)
        .values(_episode_row(admitted, subject, recorded_by))
        .on_conflict_do_nothing()
        .returning(Episode.episode_id)
    )
    return inserted.first() is not None


async def insert_episodes(session: AsyncSession, events: Sequence[AdmittedEvent]) -> None:
    """Open the episodes of admissions agencies published, in one statement; those known already stay."""
    if events:
        rows = [_episode_row(e.data, e.subject, e.source) for e in events]
        await session.execute(insert(Episode).on_conflict_do_nothing(), rows)


def _episode_row(admitted: Admitted, subject: str, recorded_by: str) -> dict[str, object]:
    return {
        "episode_id": admitted.episode_id,
        "subject": subject,
        "modality": admitted.modality,
        "admitted_on": admitted.admitted_on,
        "unit": admitted.unit,
        "facility_id": admitted.facility_id,
        "substances": list(admitted.substances),
        "legal_basis": admitted.legal_basis,
        "service_point_id": admitted.service_point_id,
        "previous_episode_id": admitted.previous_episode_id,
        "recorded_by": recorded_by,
    }


_END = text(
    "UPDATE episodes AS e SET ended_on = coalesce(e.ended_on, v.completed_on), outcome = coalesce(e.outcome, v.outcome)"
    " FROM unnest(CAST(:ids AS text[]), CAST(:days AS date[]), CAST(:outcomes AS text[]))"
    " AS v(episode_id, completed_on, outcome) WHERE e.episode_id = v.episode_id RETURNING e.episode_id"
)
_RELAPSE = text(
    "UPDATE episodes AS e SET relapsed_on = coalesce(e.relapsed_on, v.detected_on)"
    " FROM unnest(CAST(:ids AS text[]), CAST(:days AS date[])) AS v(episode_id, detected_on)"
    " WHERE e.episode_id = v.episode_id RETURNING e.episode_id"
)


async def end_episodes(session: AsyncSession, events: Sequence[CompletedEvent]) -> set[str]:
    """Record the ends of episodes in one statement (the first end of each stands); returns the episodes known."""
    first = {e.data.episode_id: e.data for e in reversed(events)}  # one row per episode: the earliest event's
    if not first:
        return set()
    ids = list(first)
    params = {"ids": ids, "days": [first[i].completed_on for i in ids], "outcomes": [first[i].outcome for i in ids]}
    return set((await session.execute(_END, params)).scalars())


async def relapse_episodes(session: AsyncSession, events: Sequence[RelapsedEvent]) -> set[str]:
    """Record that relapses followed episodes, in one statement; returns the episodes known."""
    first = {e.data.episode_id: e.data.detected_on for e in reversed(events)}
    if not first:
        return set()
    return set((await session.execute(_RELAPSE, {"ids": list(first), "days": list(first.values())})).scalars())


async def announce_facility(session: AsyncSession, event: FacilityRegisteredEvent) -> None:
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
