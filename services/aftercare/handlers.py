"""Aftercare's handling of what it consumes: `admitted` tells what each episode is, `completed` opens post-treatment
management where the rules say (announced by `aftercare_opened`); `relapsed` and `employed` that agencies published
are recorded (this service's own are in its inbox already). A round of events at a time, a statement or two per
kind."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.aftercare import db, domain
from services.aftercare.models import outbox
from shared.events import (
    EVENT_TOPICS,
    AdmittedEvent,
    AftercareOpened,
    Completed,
    CompletedEvent,
    Employed,
    EmployedEvent,
    Event,
    RelapsedEvent,
    new_event,
)
from shared.outbox import add_to_outbox
from shared.parking import Applied, Wait, episode

#: The topics it consumes (without the deployment's prefix).
TOPICS = [EVENT_TOPICS[f"vn.rehab.{name}.v1"] for name in ("admitted", "completed", "relapsed", "employed")]

#: The `source` of the events aftercare decides on by itself (the cases it opens).
SOURCE = "/vn/hoinhap/aftercare"


async def on_events(session: AsyncSession, events: list[Event]) -> list[Applied | Wait]:
    """Admissions first, then ends open management, then relapses close cases and support is added to them. An end
    waits for its admission, a relapse or support for its case; one that follows something in the same round finds
    it."""
    await db.insert_episodes(session, [e for e in events if isinstance(e, AdmittedEvent)])
    known = await _complete(session, [e for e in events if isinstance(e, CompletedEvent)])
    cases = await _during_cases(session, [e for e in events if isinstance(e, RelapsedEvent | EmployedEvent)])
    return [_outcome(event, known, cases) for event in events]


def _outcome(event: Event, known: set[str], cases: set[str]) -> Applied | Wait:
    match event:
        case AdmittedEvent():
            return Applied((episode(event.data.episode_id),))
        case CompletedEvent() | RelapsedEvent() | EmployedEvent():
            found = known if isinstance(event, CompletedEvent) else cases
            key = episode(event.data.episode_id)
            return Applied((key,)) if event.data.episode_id in found else Wait(key)
    return Applied()


async def _complete(session: AsyncSession, events: Sequence[CompletedEvent]) -> set[str]:
    """Ends of treatment, in order (the first end of an episode stands); returns the episodes known."""
    if not events:
        return set()
    episodes = await db.lock_episodes(session, {e.data.episode_id for e in events})
    opening: list[tuple[str, Completed]] = []
    for event in events:
        ended = episodes.get(event.data.episode_id)
        if ended is not None and ended.ended_on is None:
            db.end_episode(ended, event.data)
            if domain.opens_aftercare(ended.modality, event.data.outcome):
                opening.append((ended.subject, event.data))
    await _open(session, opening)
    return set(episodes)


async def _open(session: AsyncSession, opening: Sequence[tuple[str, Completed]]) -> None:
    """Open the cases of these ends (subject, end), each announced once by `aftercare_opened` (staged in the
    consumer's own transaction: the relay is woken once the round commits)."""
    opened = await db.open_cases(session, opening)
    announced = [
        new_event(
            AftercareOpened(episode_id=d.episode_id, opened_on=d.completed_on, unit=d.return_unit),
            subject=subject,
            source=SOURCE,
        )
        for subject, d in opening
        if d.episode_id in opened
    ]
    await add_to_outbox(session, outbox, *announced)


async def _during_cases(session: AsyncSession, events: Sequence[RelapsedEvent | EmployedEvent]) -> set[str]:
    """Relapses close cases (the first stands), support is added to them, in order; returns the cases found."""
    if not events:
        return set()
    cases = await db.lock_cases(session, {e.data.episode_id for e in events})
    supports: list[Employed] = []
    for event in events:
        case = cases.get(event.data.episode_id)
        if case is None:
            continue
        if isinstance(event, EmployedEvent):
            supports.append(event.data)
        elif case.closed_on is None:
            db.close_case(case, event.data.detected_on)
    await db.add_supports(session, supports)
    return set(cases)
