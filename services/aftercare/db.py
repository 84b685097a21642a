"""Aftercare's named queries and writes; no decisions (those are in usecases.py, handlers.py and domain.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.aftercare import domain
from services.aftercare.models import AftercareCase, Episode, Support
from shared.database import any_of
from shared.events import AdmittedEvent, Completed, Employed


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


def close_case(case: AftercareCase, detected_on: date) -> None:
    """Close the case on a relapse."""
    case.closed_on, case.closed_reason = detected_on, "relapsed"


def end_episode(episode: Episode, completed: Completed) -> None:
    episode.ended_on, episode.outcome = completed.completed_on, completed.outcome


def _support_row(employed: Employed) -> dict[str, object]:
    return {
        "episode_id": employed.episode_id,
        "support": employed.support,
        "employed_on": employed.employed_on,
        "unit": employed.unit,
    }


async def add_support(session: AsyncSession, employed: Employed) -> None:
    await session.execute(insert(Support).values(_support_row(employed)).on_conflict_do_nothing())


async def add_supports(session: AsyncSession, supports: Sequence[Employed]) -> None:
    """Add support to cases in one statement; support recorded before stays as it is."""
    if supports:
        await session.execute(insert(Support).on_conflict_do_nothing(), [_support_row(d) for d in supports])


async def insert_episodes(session: AsyncSession, events: Sequence[AdmittedEvent]) -> None:
    """Record what each admitted episode is, in one statement; those known already stay."""
    if events:
        rows = [
            {
                "episode_id": e.data.episode_id,
                "subject": e.subject,
                "modality": e.data.modality,
                "unit": e.data.unit,
                "admitted_on": e.data.admitted_on,
            }
            for e in events
        ]
        await session.execute(insert(Episode).on_conflict_do_nothing(), rows)


async def lock_episodes(session: AsyncSession, episode_ids: Collection[str]) -> dict[str, Episode]:
    """The episodes known among these, locked until the transaction ends (in id order, so rounds do not deadlock)."""
    locked = await session.scalars(
        select(Episode).where(Episode.episode_id == any_of(episode_ids)).order_by(Episode.episode_id).with_for_update()
    )
    return {e.episode_id: e for e in locked}


async def lock_cases(session: AsyncSession, episode_ids: Collection[str]) -> dict[str, AftercareCase]:
    """The cases following these episodes, locked until the transaction ends (in id order)."""
    locked = await session.scalars(
        select(AftercareCase)
        .where(AftercareCase.episode_id == any_of(episode_ids))
        .order_by(AftercareCase.episode_id)
        .with_for_update()
    )
    return {c.episode_id: c for c in locked}


_OPEN = text(
    "INSERT INTO aftercare_cases (episode_id, subject, unit, opened_on) SELECT * FROM unnest(CAST(:ids AS text[]),"
    " CAST(:subjects AS text[]), CAST(:units AS text[]), CAST(:days AS date[])) ON CONFLICT DO NOTHING"
    " RETURNING episode_id"
)


async def open_cases(session: AsyncSession, opening: Sequence[tuple[str, Completed]]) -> set[str]:
    """Open the cases of these ends (subject, end) in one statement; returns the episodes whose case this opened
    (a case opened before stays)."""
    if not opening:
        return set()
    params = {
        "ids": [d.episode_id for _, d in opening],
        "subjects": [subject for subject, _ in opening],
        "units": [d.return_unit for _, d in opening],
        "days": [d.completed_on for _, d in opening],
    }
    return set((await session.execute(_OPEN, params)).scalars())
