"""Applying events to the views: facts upserted per episode, contributions summed in memory, a few bulk statements.

Exactly once without a row per event: the statements that write an event's facts say what they wrote, and only that
is counted. An episode's admission and its end are facts in `episodes` (written only where still empty), a transfer
is keyed by its event id, and only the additive events (relapsed, employed, aftercare_opened), which leave no fact
behind, are claimed in the inbox. A redelivered event, or a second, different admission or end of an episode already
recorded, writes nothing and is not counted: first applied wins.

Order-independence: a contribution that needs both the admission and the end (discharges by modality and managing
unit, the census's -1) is added by the statement that writes the second, which sees the first under the row lock of
the upsert. Additive views take sums, so order does not matter to them. Distinct persons are counted from `episodes`
when read: a table of persons by unit and month would cost a batch three more rows per admission.

What a batch adds is one row of `daily_totals` per ward, day and known date, rolled up to province and VN: every
figure of an event (an admission's modality, its substance, the resident it adds) lands in the same row, so a batch
writes a row per event and level at most, fewer where events share a day. Rows are the database's cost (an upsert
costs about the same whatever its width), so this is what sets the consumer's speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import known_on
from services.reporting.write import db
from services.reporting.write.contributions import Contributions
from shared import units
from shared.events import (
    AdmittedEvent,
    AftercareOpenedEvent,
    CompletedEvent,
    EmployedEvent,
    Event,
    RelapsedEvent,
    TransferredEvent,
)
from shared.inbox import claim
from shared.observability import Metrics

#: The event types reporting consumes: the five of the contract and aftercare's intake.
CONSUMED_TYPES = (
    "vn.rehab.admitted.v1",
    "vn.rehab.transferred.v1",
    "vn.rehab.completed.v1",
    "vn.rehab.relapsed.v1",
    "vn.rehab.employed.v1",
    "vn.rehab.aftercare_opened.v1",
)

#: The views each event type brings up to date (for `hoinhap_view_newest_event_timestamp_seconds`).
VIEWS: dict[str, tuple[str, ...]] = {
    "vn.rehab.admitted.v1": ("daily_totals", "episodes"),
    "vn.rehab.transferred.v1": ("transfers",),
    "vn.rehab.completed.v1": ("daily_totals", "episodes"),
    "vn.rehab.relapsed.v1": ("daily_totals",),
    "vn.rehab.employed.v1": ("daily_totals",),
    "vn.rehab.aftercare_opened.v1": ("daily_totals",),
}


def newest_by_view(events: Iterable[Event]) -> dict[str, float]:
    """The one place that knows, for a batch just applied, the newest event `time` (epoch seconds) per view."""
    newest_of_type: dict[str, datetime] = {}
    for event in events:
        if event.time > newest_of_type.get(event.type, _LONG_AGO):
            newest_of_type[event.type] = event.time
    newest: dict[str, float] = {}
    for event_type, time in newest_of_type.items():
        stamp = time.timestamp()
        for view in VIEWS.get(event_type, ()):
            newest[view] = max(newest.get(view, stamp), stamp)
    return newest


_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def _ward_field(event: Event) -> tuple[str, str] | None:
    """The ward an event places its figures in, and the field that gives it. (`type(...) is` rather than `match` or
    `isinstance`: the models' metaclass makes `isinstance` cost more than anything else done per event here.)"""
    if type(event) is CompletedEvent:
        return "data.return_unit", event.data.return_unit
    kind = type(event)
    if kind is AdmittedEvent or kind is RelapsedEvent or kind is EmployedEvent or kind is AftercareOpenedEvent:
        return "data.unit", event.data.unit  # type: ignore[union-attr]  # each of these has a unit
    return None


def unknown_unit(event: Event) -> tuple[str, str] | None:
    """`Consumer` check: a ward that is neither current nor an old code we can map cannot be placed in the roll-up."""
    found = _ward_field(event)
    if found is not None and units.current_ward(found[1]) is None:
        return "unknown_unit", f"{found[0]}: {found[1]} is neither a current nor a pre-July-2025 ward code"
    return None


def _ward(code: str) -> str:
    ward = units.current_ward(code)
    if ward is None:  # `unknown_unit` dead-letters these before they get here
        raise ValueError(f"unit {code} is not a ward")
    return ward


async def apply_facts(
    session: AsyncSession, events: list[Event], into: Contributions | None = None
) -> tuple[list[Event], Contributions]:
    """Write a batch's facts; returns the events applied (the others were applied before, or are a second
    admission or end of an episode) and what they add to the totals (added to `into` when given, as a rebuild sums
    many batches)."""
    contributions = Contributions() if into is None else into
    admitted, completed, moved, additive = _by_kind(events)
    applied = await _admit(session, admitted, contributions)
    applied += await _end(session, completed, contributions)
    applied += await _transfer(session, moved)
    for event in await claim(session, additive):
        _count_additive(event, contributions)
        applied.append(event)
    return applied, contributions


def _by_kind(
    events: list[Event],
) -> tuple[list[AdmittedEvent], list[CompletedEvent], list[TransferredEvent], list[Event]]:
    """A batch's events by what they write, the first of each episode's admission or end (or of an event id)."""
    admitted: dict[str, AdmittedEvent] = {}
    completed: dict[str, CompletedEvent] = {}
    moved: dict[str, TransferredEvent] = {}
    additive: dict[str, Event] = {}
    for event in events:
        if type(event) is AdmittedEvent:
            admitted.setdefault(event.data.episode_id, event)
        elif type(event) is CompletedEvent:
            completed.setdefault(event.data.episode_id, event)
        elif type(event) is TransferredEvent:
            moved.setdefault(event.id, event)
        elif type(event) in _ADDITIVE:
            additive.setdefault(event.id, event)
    return list(admitted.values()), list(completed.values()), list(moved.values()), list(additive.values())


_ADDITIVE = (RelapsedEvent, EmployedEvent, AftercareOpenedEvent)


def _count_additive(event: Event, into: Contributions) -> None:
    known = known_on(event.time)
    if type(event) is RelapsedEvent:
        into.count("relapses", _ward(event.data.unit), event.data.detected_on, known)
    elif type(event) is EmployedEvent:
        into.count(f"employment_supported.{event.data.support}", _ward(event.data.unit), event.data.employed_on, known)
    elif type(event) is AftercareOpenedEvent:
        into.count("aftercare_intake", _ward(event.data.unit), event.data.opened_on, known)


async def _admit(session: AsyncSession, events: Sequence[AdmittedEvent], into: Contributions) -> list[Event]:
    """Admissions add their figures; one whose episode had ended already adds the discharge as well."""
    if not events:
        return []
    ordered = sorted(events, key=_episode_id)  # one lock order for every replica
    ids = [e.data.episode_id for e in ordered]
    wards = [_ward(e.data.unit) for e in ordered]
    modalities = [e.data.modality.value for e in ordered]
    days = [e.data.admitted_on for e in ordered]
    known = [known_on(e.time) for e in ordered]
    done = await db.upsert_admissions(
        session,
        ids,
        [e.subject for e in ordered],
        wards,
        [units.province_of(w) for w in wards],
        modalities,
        [e.data.facility_id for e in ordered],
        days,
        known,
    )
    at = {episode: n for n, episode in enumerate(ids)}
    applied: list[Event] = []
    for episode, completed_on, outcome, vocational, completed_known in done:
        n = at[episode]
        into.admission(wards[n], days[n], known[n], modalities[n], ordered[n].data.substances[0].value)
        if completed_on is not None:
            end_known = max(known[n], completed_known)
            into.discharge(wards[n], completed_on, end_known, modalities[n], outcome, vocational)
        applied.append(ordered[n])
    return applied


async def _end(session: AsyncSession, events: Sequence[CompletedEvent], into: Contributions) -> list[Event]:
    """Ends whose episode's admission is known add the discharge; the others wait for it."""
    if not events:
        return []
    ordered = sorted(events, key=_episode_id)
    ids = [e.data.episode_id for e in ordered]
    days = [e.data.completed_on for e in ordered]
    outcomes = [e.data.outcome.value for e in ordered]
    vocational = [e.data.vocational_training is not None for e in ordered]
    known = [known_on(e.time) for e in ordered]
    done = await db.upsert_ends(session, ids, days, outcomes, vocational, known)
    at = {episode: n for n, episode in enumerate(ids)}
    applied: list[Event] = []
    for episode, ward, modality, admitted_on, admitted_known in done:
        n = at[episode]
        if admitted_on is not None:  # else parked: the admission adds it when it comes
            into.discharge(ward, days[n], max(admitted_known, known[n]), modality, outcomes[n], vocational[n])
        applied.append(ordered[n])
    return applied


def _episode_id(event: AdmittedEvent | CompletedEvent) -> str:
    return event.data.episode_id


async def _transfer(session: AsyncSession, events: Sequence[TransferredEvent]) -> list[Event]:
    """Transfers add to no total: each is a fact of its own, keyed by its event id."""
    if not events:
        return []
    ordered = sorted(events, key=lambda e: e.id)
    return await db.insert_transfers(session, ordered, [known_on(e.time) for e in ordered])


def mark_fresh(metrics: Metrics, applied: list[Event]) -> None:
    """`Consumer` after-commit hook: each view now includes the newest of the events just applied to it."""
    for view, newest in newest_by_view(applied).items():
        metrics.view_applied(view, newest)
