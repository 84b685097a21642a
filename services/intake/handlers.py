"""Intake's handling of what it consumes: admissions agencies published, ends and relapses of episodes, registered
facilities; a round of events at a time, a statement per kind."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import db
from shared.events import (
    EVENT_TOPICS,
    AdmittedEvent,
    CompletedEvent,
    Event,
    FacilityRegisteredEvent,
    RelapsedEvent,
)
from shared.parking import Applied, Wait, episode

#: The topics it consumes (without the deployment's prefix).
TOPICS = [
    EVENT_TOPICS[t]
    for t in (
        "vn.rehab.admitted.v1",
        "vn.rehab.completed.v1",
        "vn.rehab.relapsed.v1",
        "vn.rehab.facility_registered.v1",
    )
]


async def on_events(session: AsyncSession, events: list[Event]) -> list[Applied | Wait]:
    """Admissions first, then ends and relapses (those of an episode admitted in the same round find it; those of
    an episode not seen yet wait for its admission), then registered facilities."""
    await db.insert_episodes(session, [e for e in events if isinstance(e, AdmittedEvent)])
    ended = await db.end_episodes(session, [e for e in events if isinstance(e, CompletedEvent)])
    relapsed = await db.relapse_episodes(session, [e for e in events if isinstance(e, RelapsedEvent)])
    for event in events:
        if isinstance(event, FacilityRegisteredEvent):
            await db.announce_facility(session, event)
    return [_outcome(event, ended, relapsed) for event in events]


def _outcome(event: Event, ended: set[str], relapsed: set[str]) -> Applied | Wait:
    match event:
        case AdmittedEvent():
            return Applied((episode(event.data.episode_id),))
        case CompletedEvent() | RelapsedEvent():
            known = ended if isinstance(event, CompletedEvent) else relapsed
            key = episode(event.data.episode_id)
            return Applied((key,)) if event.data.episode_id in known else Wait(key)
    return Applied()
