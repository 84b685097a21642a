"""Aftercare's writes, applied in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.aftercare.domain import opens_aftercare
from services.aftercare.models import AftercareCase
from shared.events import CompletedEvent, Event


async def apply_events(session: AsyncSession, events: list[Event]) -> None:
    """A completed treatment opens a management case at the ward the person returns to."""
    rows = [
        {
            "episode_id": e.data.episode_id,
            "subject": e.subject,
            "unit": e.data.return_unit,
            "opened_on": e.data.completed_on,
        }
        for e in events
        if isinstance(e, CompletedEvent) and opens_aftercare(e.data)
    ]
    if rows:
        await session.execute(insert(AftercareCase).on_conflict_do_nothing(), rows)
