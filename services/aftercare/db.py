"""Aftercare's queries and writes. A write here stages its event in the outbox and records it in the inbox in the
same transaction, so consuming it back from Kafka changes nothing; events agencies published apply the same way."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.aftercare import domain
from services.aftercare.models import AftercareCase, Episode, Support, outbox
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


async def _admitted(session: AsyncSession, event: AdmittedEvent) -> Applied:
    d = event.data
    await session.execute(
        insert(Episode)
        .values(
            episode_id=d.episode_id, subject=event.subject, modality=d.modality, unit=d.unit, admitted_on=d.admitted_on
        )
        .on_conflict_do_nothing()
    )
    return Applied((episode(d.episode_id),))


async def _completed(session: AsyncSession, event: CompletedEvent) -> Applied | Wait:
    """The end of treatment; management opens where the rules say, announced by `aftercare_opened`."""
    d = event.data
    ended = await session.scalar(select(Episode).where(Episode.episode_id == d.episode_id).with_for_update())
    if ended is None:
        return Wait(episode(d.episode_id))
    if ended.ended_on is None:
        ended.ended_on, ended.outcome = d.completed_on, d.outcome
        if domain.opens_aftercare(ended.modality, d.outcome):
            await _open(session, ended, event)
    return Applied((episode(d.episode_id),))


async def _open(session: AsyncSession, ended: Episode, event: CompletedEvent) -> None:
    d = event.data
    opened = await session.execute(
        insert(AftercareCase)
        .values(episode_id=d.episode_id, subject=ended.subject, unit=d.return_unit, opened_on=d.completed_on)
        .on_conflict_do_nothing()
        .returning(AftercareCase.episode_id)
    )
    if opened.first() is not None:
        announced = AftercareOpened(episode_id=d.episode_id, opened_on=d.completed_on, unit=d.return_unit)
        await add_to_outbox(session, outbox, new_event(announced, subject=ended.subject, source=SOURCE))


async def _during_case(session: AsyncSession, event: RelapsedEvent | EmployedEvent) -> Applied | Wait:
    """A relapse closes the case, support is added to it; both wait for the case to open."""
    episode_id = event.data.episode_id
    case = await get_case(session, episode_id, lock=True)
    if case is None:
        return Wait(episode(episode_id))
    if isinstance(event, EmployedEvent):
        await add_support(session, event)
    elif case.closed_on is None:
        close(case, event)
    return Applied((episode(episode_id),))


async def apply_event(session: AsyncSession, event: Event) -> Applied | Wait:
    """Admissions tell what each episode is; ends open management; relapses and support that agencies published
    are recorded as if posted here."""
    match event:
        case AdmittedEvent():
            return await _admitted(session, event)
        case CompletedEvent():
            return await _completed(session, event)
        case RelapsedEvent() | EmployedEvent():
            return await _during_case(session, event)
    return Applied()
