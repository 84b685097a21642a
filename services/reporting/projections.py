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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import known_on
from services.reporting.models import DAILY_FIGURES, column_of
from shared import units
from shared.events import (
    AdmittedEvent,
    AftercareOpenedEvent,
    CompletedEvent,
    EmployedEvent,
    Event,
    Modality,
    Outcome,
    RelapsedEvent,
    Substance,
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


RowKey = tuple[str, date, date]  # unit, day, known_on
#: A row is its key then its figures, as `daily_totals` has them: ready to be copied as it is.
_KEY = 3
_POSITION = {figure: _KEY + n for n, figure in enumerate(DAILY_FIGURES)}
_ZEROS = [0] * len(DAILY_FIGURES)


@dataclass
class Contributions:
    """What one batch adds to `daily_totals`: a row (unit, day, known date, then the figures in `DAILY_FIGURES` order)
    per unit, day and known date, each figure counted in its ward, its province and VN at once."""

    rows: dict[RowKey, list[Any]] = field(default_factory=dict)

    def _levels(self, ward: str, day: date, known: date) -> list[list[Any]]:
        levels = []
        for unit in units.rollup(ward):
            row = self.rows.get((unit, day, known))
            if row is None:
                row = self.rows[(unit, day, known)] = [unit, day, known, *_ZEROS]
            levels.append(row)
        return levels

    def split(self, parts: int) -> list[Contributions]:
        """Disjoint shares of the rows, to be written on as many connections at once without waiting on each other's
        row locks."""
        shares = [Contributions() for _ in range(parts)]
        for key, values in self.rows.items():
            shares[hash(key) % parts].rows[key] = values
        return shares

    def count(self, figure: str, ward: str, day: date, known: date) -> None:
        position = _POSITION[figure]
        for row in self._levels(ward, day, known):
            row[position] += 1

    def admission(self, ward: str, day: date, known: date, modality: str, substance: str) -> None:
        added = _ADMISSION[modality, substance]
        for values in self._levels(ward, day, known):
            for position in added:
                values[position] += 1

    def discharge(self, ward: str, day: date, known: date, modality: str, outcome: str, vocational: bool) -> None:
        """An episode whose admission and end are both known now; `known`: the later of the two dates."""
        added = _DISCHARGE[modality, outcome, vocational]
        resident = _POSITION[f"residents.{modality}"]
        for values in self._levels(ward, day, known):
            for position in added:
                values[position] += 1
            values[resident] -= 1


#: The figures an admission adds to, by modality and primary substance.
_ADMISSION = {
    (m.value, s.value): (
        _POSITION[f"admissions.{m}"],
        _POSITION[f"admissions.primary_{s}"],
        _POSITION[f"residents.{m}"],
    )
    for m in Modality
    for s in Substance
}
#: The figures a discharge adds to, by modality, outcome and vocational training (besides one resident less).
_DISCHARGE = {
    (m.value, o.value, vocational): (
        _POSITION[f"discharges.{m}"],
        _POSITION[f"discharges.outcome_{o}"],
        *((_POSITION[f"completions.{m}"],) if o == Outcome.COMPLETED else ()),
        *((_POSITION["vocational_trained"],) if o == Outcome.COMPLETED and vocational else ()),
    )
    for m in Modality
    for o in Outcome
    for vocational in (False, True)
}


async def apply_events(session: AsyncSession, events: list[Event]) -> list[Event]:
    """Apply a batch to every view, in one transaction that the caller commits; returns the events applied (the
    others were applied before, or are a second admission or end of an episode)."""
    applied, contributions = await apply_facts(session, events)
    await write_totals(session, contributions)
    return applied


async def apply_facts(
    session: AsyncSession, events: list[Event], into: Contributions | None = None
) -> tuple[list[Event], Contributions]:
    """The first half of `apply_events`: the facts written, and what the applied events add to the totals (added to
    `into` when given, as a rebuild sums many batches)."""
    contributions = Contributions() if into is None else into
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
    applied = await _admit(session, list(admitted.values()), contributions)
    applied += await _end(session, list(completed.values()), contributions)
    applied += await _transfer(session, list(moved.values()))
    for event in await claim(session, list(additive.values())):
        _count_additive(event, contributions)
        applied.append(event)
    return applied, contributions


_ADDITIVE = (RelapsedEvent, EmployedEvent, AftercareOpenedEvent)


def _count_additive(event: Event, into: Contributions) -> None:
    known = known_on(event.time)
    if type(event) is RelapsedEvent:
        into.count("relapses", _ward(event.data.unit), event.data.detected_on, known)
    elif type(event) is EmployedEvent:
        into.count(f"employment_supported.{event.data.support}", _ward(event.data.unit), event.data.employed_on, known)
    elif type(event) is AftercareOpenedEvent:
        into.count("aftercare_intake", _ward(event.data.unit), event.data.opened_on, known)


_ADMIT = """
    INSERT INTO episodes AS e (episode_id, subject, ward, province, modality, facility_id, admitted_on, admitted_known)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[],
                         $8::date[])
    ON CONFLICT (episode_id) DO UPDATE SET
        subject = EXCLUDED.subject, ward = EXCLUDED.ward, province = EXCLUDED.province,
        modality = EXCLUDED.modality, facility_id = EXCLUDED.facility_id,
        admitted_on = EXCLUDED.admitted_on, admitted_known = EXCLUDED.admitted_known
    WHERE e.admitted_on IS NULL
    RETURNING e.episode_id, e.completed_on, e.outcome, e.vocational, e.completed_known
"""


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under a session's transaction: the statements run once per batch for every event
    take their parameters as arrays and give back plain records, with nothing to do per event in between."""
    connection = (await (await session.connection()).get_raw_connection()).driver_connection
    assert connection is not None  # an open asyncpg connection
    return connection


async def _admit(session: AsyncSession, events: Sequence[AdmittedEvent], into: Contributions) -> list[Event]:
    if not events:
        return []
    ordered = sorted(events, key=_episode_id)  # one lock order for every replica
    ids = [e.data.episode_id for e in ordered]
    wards = [_ward(e.data.unit) for e in ordered]
    modalities = [e.data.modality.value for e in ordered]
    days = [e.data.admitted_on for e in ordered]
    known = [known_on(e.time) for e in ordered]
    done = await (await _driver(session)).fetch(
        _ADMIT,
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


_END = """
    INSERT INTO episodes AS e (episode_id, completed_on, outcome, vocational, completed_known)
    SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::boolean[], $5::date[])
    ON CONFLICT (episode_id) DO UPDATE SET
        completed_on = EXCLUDED.completed_on, outcome = EXCLUDED.outcome, vocational = EXCLUDED.vocational,
        completed_known = EXCLUDED.completed_known
    WHERE e.completed_on IS NULL
    RETURNING e.episode_id, e.ward, e.modality, e.admitted_on, e.admitted_known
"""


async def _end(session: AsyncSession, events: Sequence[CompletedEvent], into: Contributions) -> list[Event]:
    if not events:
        return []
    ordered = sorted(events, key=_episode_id)
    ids = [e.data.episode_id for e in ordered]
    days = [e.data.completed_on for e in ordered]
    outcomes = [e.data.outcome.value for e in ordered]
    vocational = [e.data.vocational_training is not None for e in ordered]
    known = [known_on(e.time) for e in ordered]
    done = await (await _driver(session)).fetch(_END, ids, days, outcomes, vocational, known)
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


_TRANSFER = text(
    """
    INSERT INTO transfers (event_id, episode_id, transferred_on, from_facility_id, to_facility_id, known_on)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:episodes AS text[]), CAST(:days AS date[]),
                         CAST(:froms AS text[]), CAST(:tos AS text[]), CAST(:known AS date[]))
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)


async def _transfer(session: AsyncSession, events: Sequence[TransferredEvent]) -> list[Event]:
    if not events:
        return []
    ordered = sorted(events, key=lambda e: e.id)
    result = await session.execute(
        _TRANSFER,
        {
            "ids": [e.id for e in ordered],
            "episodes": [e.data.episode_id for e in ordered],
            "days": [e.data.transferred_on for e in ordered],
            "froms": [e.data.from_facility_id for e in ordered],
            "tos": [e.data.to_facility_id for e in ordered],
            "known": [known_on(e.time) for e in ordered],
        },
    )
    written = set(result.scalars())
    return [e for e in ordered if e.id in written]


_COLUMNS = [column_of(figure) for figure in DAILY_FIGURES]
#: A batch's rows go to a table of the connection's own by COPY (several times cheaper than as array parameters,
#: which PostgreSQL receives element by element, zeros included), then into the view in one statement.
_BATCH_TABLE = text("CREATE TEMPORARY TABLE IF NOT EXISTS daily_batch (LIKE daily_totals) ON COMMIT DELETE ROWS")
_TOTALS = text(
    f"""
    INSERT INTO daily_totals AS t SELECT * FROM daily_batch ORDER BY unit, day, known_on
    ON CONFLICT (unit, day, known_on) DO UPDATE SET {", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in _COLUMNS)}
    """  # noqa: S608 - the columns are the catalogue's own
)


async def write_totals(session: AsyncSession, totals: Contributions) -> None:
    """Add a batch's rows to the views: `stage_totals`, then `merge_totals`."""
    if not totals.rows:
        return
    await stage_totals(session, totals)
    await merge_totals(session)


async def stage_totals(session: AsyncSession, totals: Contributions) -> None:
    """Copy a batch's rows into the transaction's own table (no other transaction sees it or waits on it)."""
    await session.execute(_BATCH_TABLE)
    await (await _driver(session)).copy_records_to_table("daily_batch", records=totals.rows.values())


async def merge_totals(session: AsyncSession) -> None:
    """Add the staged rows to the views in one statement, in key order: one lock order for every replica, so no
    deadlocks between them. (A row that a +1 and a -1 of one batch left at zero adds nothing.)"""
    await session.execute(_TOTALS)


def mark_fresh(metrics: Metrics, applied: list[Event]) -> None:
    """`Consumer` after-commit hook: each view now includes the newest of the events just applied to it."""
    for view, newest in newest_by_view(applied).items():
        metrics.view_applied(view, newest)
