"""Intake's queries and writes; every write stages its event in the outbox in the same transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import Episode, Person, outbox
from shared.events import Admitted, Event
from shared.outbox import add_to_outbox


async def register_person(session: AsyncSession, subject: str, sex: str, birth_year: int, residence_unit: str) -> bool:
    """Insert the person unless already registered; True when this call registered them."""
    inserted = await session.execute(
        insert(Person)
        .values(subject=subject, sex=sex, birth_year=birth_year, residence_unit=residence_unit)
        .on_conflict_do_nothing()
        .returning(Person.subject)
    )
    return inserted.first() is not None


async def get_person(session: AsyncSession, subject: str) -> Person | None:
    return await session.get(Person, subject)


async def find_episode(session: AsyncSession, subject: str, modality: str, admitted_on: date) -> Episode | None:
    """The episode an identical admission already opened, if any."""
    return await session.scalar(
        select(Episode).where(
            Episode.subject == subject, Episode.modality == modality, Episode.admitted_on == admitted_on
        )
    )


async def record_admission(session: AsyncSession, admitted: Admitted, event: Event, recorded_by: str) -> None:
    session.add(
        Episode(
            episode_id=admitted.episode_id,
            subject=event.subject,
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
    )
    await session.flush()
    await add_to_outbox(session, outbox, event)
