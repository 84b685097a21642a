"""Facility's queries and writes. A write here stages its event in the outbox and records it in the inbox in the
same transaction, so consuming it back from Kafka changes nothing; events agencies published apply the same way."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.facility import domain
from services.facility.models import CommunityEpisode, Facility, Resident, Stay, outbox
from shared import parking
from shared.database import any_of
from shared.events import AdmittedEvent, CompletedEvent, Event, TransferredEvent
from shared.inbox import claim
from shared.outbox import add_to_outbox
from shared.parking import Applied, Wait, episode

log = logging.getLogger(__name__)


def _ids(event: Event) -> dict[str, str]:
    return {"event_id": event.id, "event_type": event.type, "episode_id": getattr(event.data, "episode_id", "")}


def awaiting_facility(facility_id: str) -> str:
    """The parking key of admissions into a facility not registered yet."""
    return parking.facility(facility_id)


async def get_facility(session: AsyncSession, facility_id: str, *, lock: bool = False) -> Facility | None:
    query = select(Facility).where(Facility.facility_id == facility_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def list_facilities(session: AsyncSession) -> Sequence[Facility]:
    return (await session.scalars(select(Facility).order_by(Facility.facility_id))).all()


async def save_facility(
    session: AsyncSession, facility_id: str, name: str, unit: str, capacity: dict[str, int]
) -> None:
    row = {"name": name, "unit": unit, "capacity": capacity, "updated_at": func.now()}
    statement = insert(Facility).values(facility_id=facility_id, **row)
    await session.execute(statement.on_conflict_do_update(index_elements=[Facility.facility_id], set_=row))


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


async def stays_of(session: AsyncSession, episode_id: str) -> list[domain.Stay]:
    rows = await session.scalars(select(Stay).where(Stay.episode_id == episode_id).order_by(Stay.started_on, Stay.id))
    return [domain.Stay(r.facility_id, r.modality, r.started_on, r.ended_on) for r in rows]


async def _replace_stays(session: AsyncSession, resident: Resident, stays: list[domain.Stay]) -> None:
    await _write_stays(session, {resident.episode_id: stays}, {resident.episode_id: resident})
    await session.flush()


async def record(session: AsyncSession, event: Event) -> None:
    """Publish an event this service decided on, and mark it applied here."""
    await add_to_outbox(session, outbox, event)
    await claim(session, [event])


async def transfer(session: AsyncSession, resident: Resident, event: TransferredEvent) -> bool:
    """Move the resident as the event says; False when the stays known so far do not allow it."""
    d = event.data
    stays = domain.move(
        await stays_of(session, resident.episode_id), d.transferred_on, d.from_facility_id, d.to_facility_id
    )
    if stays is None:
        return False
    await _replace_stays(session, resident, stays)
    return True


async def discharge(session: AsyncSession, resident: Resident, event: CompletedEvent) -> bool:
    """End the resident's stay as the event says; False when the stays known so far do not allow it."""
    d = event.data
    stays = domain.leave(await stays_of(session, resident.episode_id), d.completed_on)
    if stays is None:
        return False
    await _replace_stays(session, resident, stays)
    resident.discharged_on, resident.outcome = d.completed_on, d.outcome
    await session.flush()
    return True


_ADMIT = text(
    "INSERT INTO residents (episode_id, subject, facility_id, modality, unit, admitted_on) SELECT * FROM unnest("
    "CAST(:ids AS text[]), CAST(:subjects AS text[]), CAST(:facilities AS text[]), CAST(:modalities AS text[]),"
    " CAST(:units AS text[]), CAST(:days AS date[])) ON CONFLICT DO NOTHING RETURNING episode_id"
)


async def _admit_all(session: AsyncSession, events: Sequence[AdmittedEvent]) -> dict[str, Applied | Wait]:
    """Admissions, a statement per table: episodes treated in the community noted, residents and their first stays
    inserted. One into a facility not registered yet waits for its registration. Outcomes by event id."""
    if not events:
        return {}
    community = [e.data for e in events if not domain.becomes_resident(e.data)]
    if community:
        noted = [{"episode_id": d.episode_id} for d in community]
        await session.execute(insert(CommunityEpisode).on_conflict_do_nothing(), noted)
    residents = [e for e in events if domain.becomes_resident(e.data)]
    wanted = {e.data.facility_id for e in residents if e.data.facility_id is not None}
    registered = set(await session.scalars(select(Facility.facility_id).where(Facility.facility_id == any_of(wanted))))
    admitted = [e for e in residents if e.data.facility_id in registered]
    if admitted:
        params = {
            "ids": [e.data.episode_id for e in admitted],
            "subjects": [e.subject for e in admitted],
            "facilities": [e.data.facility_id for e in admitted],
            "modalities": [e.data.modality for e in admitted],
            "units": [e.data.unit for e in admitted],
            "days": [e.data.admitted_on for e in admitted],
        }
        inserted = set((await session.execute(_ADMIT, params)).scalars())
        first = {
            e.data.episode_id: domain.first_stay(e.data) for e in reversed(admitted) if e.data.episode_id in inserted
        }
        if first:
            stays = [
                {"episode_id": i, "facility_id": s.facility_id, "modality": s.modality, "started_on": s.started_on}
                for i, s in first.items()
            ]
            await session.execute(insert(Stay), stays)
    return {
        e.id: Wait(awaiting_facility(str(e.data.facility_id)))
        if domain.becomes_resident(e.data) and e.data.facility_id not in registered
        else Applied((episode(e.data.episode_id),))
        for e in events
    }


async def _follow_all(
    session: AsyncSession, events: Sequence[TransferredEvent | CompletedEvent]
) -> dict[str, Applied | Wait]:
    """Moves and ends of episodes, in order, worked out in memory over their residents' stays (loaded at once, as
    a read after each change would find them); the changed stays written back in two statements. One waits when
    its episode (or an earlier move) has not arrived yet; nothing to do for an episode in the community. Outcomes
    by event id."""
    if not events:
        return {}
    ids = {e.data.episode_id for e in events}
    locked = await session.scalars(
        select(Resident).where(Resident.episode_id == any_of(ids)).order_by(Resident.episode_id).with_for_update()
    )
    residents = {r.episode_id: r for r in locked}
    others = ids - residents.keys()
    community = set(
        await session.scalars(select(CommunityEpisode.episode_id).where(CommunityEpisode.episode_id == any_of(others)))
    )
    stays: dict[str, list[domain.Stay]] = {i: [] for i in residents}
    rows = await session.execute(
        select(Stay.episode_id, Stay.facility_id, Stay.modality, Stay.started_on, Stay.ended_on)
        .where(Stay.episode_id == any_of(residents))
        .order_by(Stay.started_on, Stay.id)
    )
    for r in rows:
        stays[r.episode_id].append(domain.Stay(r.facility_id, r.modality, r.started_on, r.ended_on))
    changed: set[str] = set()
    outcomes: dict[str, Applied | Wait] = {}
    for event in events:
        episode_id = event.data.episode_id
        resident = residents.get(episode_id)
        if resident is None:
            if episode_id not in community:
                outcomes[event.id] = Wait(episode(episode_id))
                continue
            if isinstance(event, TransferredEvent):  # nonsense, but a fact someone published: say so, then go on
                log.warning("transfer of an episode treated in the community ignored", extra=_ids(event))
            outcomes[event.id] = Applied()
            continue
        if isinstance(event, CompletedEvent) and resident.discharged_on is not None:
            after: list[domain.Stay] | None = stays[episode_id]
        elif isinstance(event, CompletedEvent):
            after = domain.leave(stays[episode_id], event.data.completed_on)
            if after is not None:
                resident.discharged_on, resident.outcome = event.data.completed_on, event.data.outcome
        else:
            d = event.data
            after = domain.move(stays[episode_id], d.transferred_on, d.from_facility_id, d.to_facility_id)
        if after is None:
            outcomes[event.id] = Wait(episode(episode_id))
            continue
        if after is not stays[episode_id]:
            stays[episode_id] = sorted(after, key=lambda s: s.started_on)  # as a read by (started_on, id) finds them
            changed.add(episode_id)
        outcomes[event.id] = Applied((episode(episode_id),))
    await _write_stays(session, {i: stays[i] for i in changed}, residents)
    return outcomes


async def _write_stays(
    session: AsyncSession, stays: dict[str, list[domain.Stay]], residents: dict[str, Resident]
) -> None:
    """Replace the stays of these episodes; each resident is where their open stay (or their last one) is."""
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
        current = domain.open_stay(episode_stays) or max(episode_stays, key=lambda s: s.started_on)
        residents[i].facility_id = current.facility_id


async def apply_events(session: AsyncSession, events: list[Event]) -> list[Applied | Wait]:
    """Admissions make residents, once their facility is registered; then transfers and discharges move them, in
    order (each depends on the stays the ones before it left); a few statements for the whole round."""
    admitted = await _admit_all(session, [e for e in events if isinstance(e, AdmittedEvent)])
    followed = await _follow_all(session, [e for e in events if isinstance(e, TransferredEvent | CompletedEvent)])
    outcome = admitted | followed
    return [outcome.get(event.id, Applied()) for event in events]
