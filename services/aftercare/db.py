"""Aftercare's queries and writes. A write here stages its event in the outbox and records it in the inbox in the
same transaction, so consuming it back from Kafka changes nothing; events agencies published apply the same way."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.aftercare import domain
from services.aftercare.models import AftercareCase, Episode, Support, outbox
from shared.database import any_of
from shared.events import (
    AdmittedEvent,
    AftercareOpened,
    CompletedEvent,
    EmployedEvent,
    Event,
    RelapsedEvent,
    new_event,
)
from shared.inbox import claim
from shared.outbox import add_to_outbox
from shared.parking import Applied, Wait, episode

SOURCE = "/vn/hoinhap/aftercare"


async def get_case(session: AsyncSession, episode_id: str, *, lock: bool = False) -> AftercareCase | None:
    query = select(AftercareCase).where(AftercareCase.episode_id == episode_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def list_cases(session: AsyncSession, unit: str, *, open_only: bool) -> Sequence[AftercareCase]:
    query = select(AftercareCase).where(AftercareCase.unit == unit).order_by(AftercareCase.opened_on)
    if open_only:
        query = query.where(AftercareCase.closed_on.is_(None))
    return (await session.scalars(query)).all()


async def supports_of(session: AsyncSession, episode_id: str) -> Sequence[Support]:
    query = select(Support).where(Support.episode_id == episode_id).order_by(Support.employed_on, Support.id)
    return (await session.scalars(query)).all()


def state_of(case: AftercareCase) -> domain.Case:
    return domain.Case(case.episode_id, case.opened_on, case.closed_on)


async def record(session: AsyncSession, event: Event) -> None:
    """Publish an event this service decided on, and mark it applied here."""
    await add_to_outbox(session, outbox, event)
    await claim(session, [event])


def close(case: AftercareCase, event: RelapsedEvent) -> None:
    case.closed_on, case.closed_reason = event.data.detected_on, "relapsed"


async def add_support(session: AsyncSession, event: EmployedEvent) -> None:
    d = event.data
    await session.execute(
        insert(Support)
        .values(episode_id=d.episode_id, support=d.support, employed_on=d.employed_on, unit=d.unit)
        .on_conflict_do_nothing()
    )


async def apply_events(session: AsyncSession, events: list[Event]) -> list[Applied | Wait]:
    """A statement or two per kind: admissions tell what each episode is, then ends open management where the rules
    say (announced by `aftercare_opened`), then relapses close cases and support is added to them. An end waits for
    its admission, a relapse or support for its case; one that follows something in the same round finds it."""
    admissions = [e for e in events if isinstance(e, AdmittedEvent)]
    if admissions:
        rows = [
            {
                "episode_id": e.data.episode_id,
                "subject": e.subject,
                "modality": e.data.modality,
                "unit": e.data.unit,
                "admitted_on": e.data.admitted_on,
            }
            for e in admissions
        ]
        await session.execute(insert(Episode).on_conflict_do_nothing(), rows)
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
    ids = {e.data.episode_id for e in events}
    locked = await session.scalars(
        select(Episode).where(Episode.episode_id == any_of(ids)).order_by(Episode.episode_id).with_for_update()
    )
    episodes = {e.episode_id: e for e in locked}
    opening: list[tuple[str, CompletedEvent]] = []
    for event in events:
        d = event.data
        ended = episodes.get(d.episode_id)
        if ended is not None and ended.ended_on is None:
            ended.ended_on, ended.outcome = d.completed_on, d.outcome
            if domain.opens_aftercare(ended.modality, d.outcome):
                opening.append((ended.subject, event))
    await _open(session, opening)
    return set(episodes)


_OPEN = text(
    "INSERT INTO aftercare_cases (episode_id, subject, unit, opened_on) SELECT * FROM unnest(CAST(:ids AS text[]),"
    " CAST(:subjects AS text[]), CAST(:units AS text[]), CAST(:days AS date[])) ON CONFLICT DO NOTHING"
    " RETURNING episode_id"
)


async def _open(session: AsyncSession, opening: Sequence[tuple[str, CompletedEvent]]) -> None:
    """Open the cases of these ends (subject, event), each announced once by `aftercare_opened`."""
    if not opening:
        return
    params = {
        "ids": [e.data.episode_id for _, e in opening],
        "subjects": [subject for subject, _ in opening],
        "units": [e.data.return_unit for _, e in opening],
        "days": [e.data.completed_on for _, e in opening],
    }
    opened = set((await session.execute(_OPEN, params)).scalars())
    announced = [
        new_event(
            AftercareOpened(episode_id=e.data.episode_id, opened_on=e.data.completed_on, unit=e.data.return_unit),
            subject=subject,
            source=SOURCE,
        )
        for subject, e in opening
        if e.data.episode_id in opened
    ]
    await add_to_outbox(session, outbox, *announced)


async def _during_cases(session: AsyncSession, events: Sequence[RelapsedEvent | EmployedEvent]) -> set[str]:
    """Relapses close cases (the first stands), support is added to them, in order; returns the cases found."""
    if not events:
        return set()
    ids = {e.data.episode_id for e in events}
    locked = await session.scalars(
        select(AftercareCase)
        .where(AftercareCase.episode_id == any_of(ids))
        .order_by(AftercareCase.episode_id)
        .with_for_update()
    )
    cases = {c.episode_id: c for c in locked}
    supports = []
    for event in events:
        case = cases.get(event.data.episode_id)
        if case is None:
            continue
        if isinstance(event, EmployedEvent):
            d = event.data
            supports.append(
                {"episode_id": d.episode_id, "support": d.support, "employed_on": d.employed_on, "unit": d.unit}
            )
        elif case.closed_on is None:
            close(case, event)
    if supports:
        await session.execute(insert(Support).on_conflict_do_nothing(), supports)
    return set(cases)
