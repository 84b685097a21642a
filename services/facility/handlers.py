"""Facility's handling of what it consumes: `admitted` makes residents; `transferred` and `completed` that agencies
published move and discharge them (this service's own are in its inbox already); a round of events at a time, a few
statements for the whole round."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.facility import db, domain
from services.facility.models import Resident
from shared.events import EVENT_TOPICS, AdmittedEvent, CompletedEvent, Event, TransferredEvent
from shared.parking import Applied, Wait, episode

log = logging.getLogger(__name__)

#: The topics it consumes (without the deployment's prefix).
TOPICS = [EVENT_TOPICS[t] for t in ("vn.rehab.admitted.v1", "vn.rehab.transferred.v1", "vn.rehab.completed.v1")]


async def on_events(session: AsyncSession, events: list[Event]) -> list[Applied | Wait]:
    """Admissions make residents, once their facility is registered; then transfers and discharges move them, in
    order (each depends on the stays the ones before it left)."""
    admitted = await _admit(session, [e for e in events if isinstance(e, AdmittedEvent)])
    followed = await _follow(session, [e for e in events if isinstance(e, TransferredEvent | CompletedEvent)])
    outcome = admitted | followed
    return [outcome.get(event.id, Applied()) for event in events]


async def _admit(session: AsyncSession, events: Sequence[AdmittedEvent]) -> dict[str, Applied | Wait]:
    """Episodes treated in the community noted, residents and their first stays inserted. One into a facility not
    registered yet waits for its registration. Outcomes by event id."""
    if not events:
        return {}
    await db.note_community_episodes(
        session, [e.data.episode_id for e in events if not domain.becomes_resident(e.data)]
    )
    residents = [e for e in events if domain.becomes_resident(e.data)]
    wanted = {e.data.facility_id for e in residents if e.data.facility_id is not None}
    registered = await db.registered_facilities(session, wanted)
    admitted = [e for e in residents if e.data.facility_id in registered]
    inserted = await db.insert_residents(session, admitted)
    # The first admission of an episode in the round makes its stay.
    first = {e.data.episode_id: domain.first_stay(e.data) for e in reversed(admitted) if e.data.episode_id in inserted}
    await db.insert_first_stays(session, first)
    return {
        e.id: Wait(domain.awaiting_registration(str(e.data.facility_id)))
        if domain.becomes_resident(e.data) and e.data.facility_id not in registered
        else Applied((episode(e.data.episode_id),))
        for e in events
    }


async def _follow(
    session: AsyncSession, events: Sequence[TransferredEvent | CompletedEvent]
) -> dict[str, Applied | Wait]:
    """Moves and ends of episodes, in order, worked out in memory over their residents' stays (loaded at once, as
    a read after each change would find them); the changed stays written back in two statements. Outcomes by event
    id."""
    if not events:
        return {}
    ids = {e.data.episode_id for e in events}
    residents = await db.lock_residents(session, ids)
    community = await db.community_episodes(session, ids - residents.keys())
    stays = await db.stays_by_episode(session, residents)
    changed: set[str] = set()
    outcomes: dict[str, Applied | Wait] = {}
    for event in events:
        episode_id = event.data.episode_id
        resident = residents.get(episode_id)
        if resident is None:
            outcomes[event.id] = _outside(event, episode_id in community)
            continue
        after = _stays_after(event, resident, stays[episode_id])
        if after is None:
            outcomes[event.id] = Wait(episode(episode_id))
            continue
        if after is not stays[episode_id]:
            stays[episode_id] = sorted(after, key=lambda s: s.started_on)  # as a read by (started_on, id) finds them
            changed.add(episode_id)
        outcomes[event.id] = Applied((episode(episode_id),))
    await db.write_stays(session, {i: stays[i] for i in changed}, residents)
    return outcomes


def _outside(event: TransferredEvent | CompletedEvent, in_community: bool) -> Applied | Wait:
    """An event of an episode with no resident here: it waits for its admission, unless the episode is treated in
    the community (nothing to do)."""
    if not in_community:
        return Wait(episode(event.data.episode_id))
    if isinstance(event, TransferredEvent):  # nonsense, but a fact someone published: say so, then go on
        log.warning("transfer of an episode treated in the community ignored", extra=_ids(event))
    return Applied()


def _stays_after(
    event: TransferredEvent | CompletedEvent, resident: Resident, stays: list[domain.Stay]
) -> list[domain.Stay] | None:
    """The resident's stays after the event (the same list when it changes none; a discharge marks the resident);
    None when the stays known so far do not allow it yet."""
    if isinstance(event, TransferredEvent):
        d = event.data
        return domain.move(stays, d.transferred_on, d.from_facility_id, d.to_facility_id)
    if resident.discharged_on is not None:
        return stays
    after = domain.leave(stays, event.data.completed_on)
    if after is not None:
        resident.discharged_on, resident.outcome = event.data.completed_on, event.data.outcome
    return after


def _ids(event: Event) -> dict[str, str]:
    return {"event_id": event.id, "event_type": event.type, "episode_id": getattr(event.data, "episode_id", "")}
