"""Facility's named queries and writes; no decisions (those are in usecases.py, handlers.py and domain.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.facility import domain
from services.facility.models import CommunityEpisode, Facility, Resident, Stay
from shared.database import any_of
from shared.events import AdmittedEvent


async def get_facility(session: AsyncSession, facility_id: str, *, lock: bool = False) -> Facility | None:
    query = select(Facility).where(Facility.facility_id == facility_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def list_facilities(session: AsyncSession) -> Sequence[Facility]:
    return (await session.scalars(select(Facility).order_by(Facility.facility_id))).all()


async def registered_facilities(session: AsyncSession, facility_ids: Iterable[str]) -> set[str]:
    """Those of the facilities that are registered."""
    return set(await session.scalars(select(Facility.facility_id).where(Facility.facility_id == any_of(facility_ids))))


async def save_facility(
    session: AsyncSession, facility_id: str, name: str, unit: str, capacity: dict[str, int]
) -> Facility:
    """Insert or replace the facility's entry; the entry as stored."""
    row = {"name": name, "unit": unit, "capacity": capacity, "updated_at": func.now()}
    statement = insert(Facility).values(facility_id=facility_id, **row)
    upsert = statement.on_conflict_do_update(index_elements=[Facility.facility_id], set_=row).returning(Facility)
    saved = await session.scalar(upsert, execution_options={"populate_existing": True})
    assert saved is not None
    return saved


async def census(session: AsyncSession, facility_id: str, on: date) -> dict[str, int]:
    """Residents present at the facility on a day, by modality."""
    rows = await session.execute(
        select(Stay.modality, func.count())
        .where(
            Stay.facility_id == facility_id,
            Stay.started_on <= on,
            (Stay.ended_on.is_(None)) | (Stay.ended_on > on),
        )
        .group_by(Stay.modality)
    )
    return {modality: n for modality, n in rows.all()}


async def get_resident(session: AsyncSession, episode_id: str, *, lock: bool = False) -> Resident | None:
    query = select(Resident).where(Resident.episode_id == episode_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def lock_residents(session: AsyncSession, episode_ids: Iterable[str]) -> dict[str, Resident]:
    """The residents of these episodes (those that have one), locked until the transaction ends, by episode."""
    locked = await session.scalars(
        select(Resident)
        .where(Resident.episode_id == any_of(episode_ids))
        .order_by(Resident.episode_id)
        .with_for_update()
    )
    return {r.episode_id: r for r in locked}


_ADMIT = text(
    "INSERT INTO residents (episode_id, subject, facility_id, modality, unit, admitted_on) SELECT * FROM unnest("
    "CAST(:ids AS text[]), CAST(:subjects AS text[]), CAST(:facilities AS text[]), CAST(:modalities AS text[]),"
    " CAST(:units AS text[]), CAST(:days AS date[])) ON CONFLICT DO NOTHING RETURNING episode_id"
)


async def insert_residents(session: AsyncSession, events: Sequence[AdmittedEvent]) -> set[str]:
    """Insert the residents these admissions make, unless there already; the episodes inserted."""
    if not events:
        return set()
    params = {
        "ids": [e.data.episode_id for e in events],
        "subjects": [e.subject for e in events],
        "facilities": [e.data.facility_id for e in events],
        "modalities": [e.data.modality for e in events],
        "units": [e.data.unit for e in events],
        "days": [e.data.admitted_on for e in events],
    }
    return set((await session.execute(_ADMIT, params)).scalars())


async def note_community_episodes(session: AsyncSession, episode_ids: Sequence[str]) -> None:
    """Note episodes treated in the community, unless noted already."""
    if episode_ids:
        noted = [{"episode_id": i} for i in episode_ids]
        await session.execute(insert(CommunityEpisode).on_conflict_do_nothing(), noted)


async def community_episodes(session: AsyncSession, episode_ids: Iterable[str]) -> set[str]:
    """Those of the episodes that are treated in the community."""
    query = select(CommunityEpisode.episode_id).where(CommunityEpisode.episode_id == any_of(episode_ids))
    return set(await session.scalars(query))


async def stays_of(session: AsyncSession, episode_id: str) -> list[domain.Stay]:
    rows = await session.scalars(select(Stay).where(Stay.episode_id == episode_id).order_by(Stay.started_on, Stay.id))
    return [domain.Stay(r.facility_id, r.modality, r.started_on, r.ended_on) for r in rows]


async def stays_by_episode(session: AsyncSession, episode_ids: Iterable[str]) -> dict[str, list[domain.Stay]]:
    """The stays of these episodes (none for one without), each episode's in the order `stays_of` reads them."""
    stays: dict[str, list[domain.Stay]] = {i: [] for i in episode_ids}
    rows = await session.execute(
        select(Stay.episode_id, Stay.facility_id, Stay.modality, Stay.started_on, Stay.ended_on)
        .where(Stay.episode_id == any_of(stays))
        .order_by(Stay.started_on, Stay.id)
    )
    for r in rows:
        stays[r.episode_id].append(domain.Stay(r.facility_id, r.modality, r.started_on, r.ended_on))
    return stays


async def insert_first_stays(session: AsyncSession, stays: dict[str, domain.Stay]) -> None:
    """Insert the first stay of each of these episodes."""
    if stays:
        rows = [
            {"episode_id": i, "facility_id": s.facility_id, "modality": s.modality, "started_on": s.started_on}
            for i, s in stays.items()
        ]
        await session.execute(insert(Stay), rows)


async def write_stays(
    session: AsyncSession, stays: dict[str, list[domain.Stay]], residents: dict[str, Resident]
) -> None:
    """Replace the stays of these episodes; each resident is where their current stay is."""
    if not stays:
        return
    await session.execute(delete(Stay).where(Stay.episode_id == any_of(stays)))
    rows = [
        {
            "episode_id": i,
            "facility_id": s.facility_id,
            "modality": s.modality,
            "started_on": s.started_on,
            "ended_on": s.ended_on,
        }
        for i, episode_stays in stays.items()
        for s in episode_stays
    ]
    await session.execute(insert(Stay), rows)
    for i, episode_stays in stays.items():
        residents[i].facility_id = domain.current_stay(episode_stays).facility_id


async def move_resident(session: AsyncSession, resident: Resident, stays: list[domain.Stay]) -> None:
    """Replace the resident's stays (a transfer)."""
    await write_stays(session, {resident.episode_id: stays}, {resident.episode_id: resident})
    await session.flush()


async def discharge_resident(
    session: AsyncSession, resident: Resident, stays: list[domain.Stay], on: date, outcome: str
) -> None:
    """Replace the resident's stays and record their discharge."""
    await write_stays(session, {resident.episode_id: stays}, {resident.episode_id: resident})
    resident.discharged_on, resident.outcome = on, outcome
    await session.flush()
