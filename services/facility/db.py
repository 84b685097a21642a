"""Facility's writes, applied in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.facility.domain import becomes_resident
from services.facility.models import Resident
from shared.events import AdmittedEvent, Event


async def apply_events(session: AsyncSession, events: list[Event]) -> None:
    """Admissions into a facility make residents; the inbox has already dropped duplicates."""
    rows = [
        {
            "episode_id": e.data.episode_id,
            "subject": e.subject,
            "facility_id": e.data.facility_id,
            "modality": e.data.modality,
            "unit": e.data.unit,
            "admitted_on": e.data.admitted_on,
        }
        for e in events
        if isinstance(e, AdmittedEvent) and becomes_resident(e.data)
    ]
    if rows:
        await session.execute(insert(Resident).on_conflict_do_nothing(), rows)
