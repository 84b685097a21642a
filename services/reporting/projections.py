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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import known_on
from shared import units
from shared.events import (
    AdmittedEvent,
    AftercareOpenedEvent,
    CompletedEvent,
    EmployedEvent,
    Event,
    Outcome,
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
    "vn.rehab.admitted.v1": ("indicator_totals", "census_changes", "episodes"),
    "vn.rehab.transferred.v1": ("transfers",),
    "vn.rehab.completed.v1": ("indicator_totals", "census_changes", "episodes"),
    "vn.rehab.relapsed.v1": ("indicator_totals",),
    "vn.rehab.employed.v1": ("indicator_totals",),
    "vn.rehab.aftercare_opened.v1": ("indicator_totals",),
}


def newest_by_view(events: Iterable[Event]) -> dict[str, float]:
    """The one place that knows, for a batch just applied, the newest event `time` (epoch seconds) per view."""
    newest: dict[str, float] = {}
    for event in events:
        stamp = event.time.timestamp()
        for view in VIEWS.get(event.type, ()):
            newest[view] = max(newest.get(view, stamp), stamp)
    return newest


def _wards(event: Event) -> list[tuple[str, str]]:
    match event:
        case AdmittedEvent() | RelapsedEvent() | EmployedEvent() | AftercareOpenedEvent():
            return [("data.unit", event.data.unit)]
        case CompletedEvent():
            return [("data.return_unit", event.data.return_unit)]
    return []


def unknown_unit(event: Event) -> tuple[str, str] | None:
    """`Consumer` check: a ward that is neither current nor an old code we can map cannot be placed in the roll-up."""
    for field_name, code in _wards(event):
        if units.current_ward(code) is None:
            return "unknown_unit", f"{field_name}: {code} is neither a current nor a pre-July-2025 ward code"
    return None


def _ward(code: str) -> str:
    ward = units.current_ward(code)
    if ward is None:  # `unknown_unit` dead-letters these before they get here
        raise ValueError(f"unit {code} is not a ward")
    return ward


CounterKey = tuple[str, str, date, date]  # indicator_id, ward, month, known_on
CensusKey = tuple[str, str, date, date]  # ward, modality, day, known_on


@dataclass
class Contributions:
    """What one batch adds to the views, at ward level; `flush` rolls it up and writes it."""

    counters: Counter[CounterKey] = field(default_factory=Counter)
    census: Counter[CensusKey] = field(default_factory=Counter)

    def add(self, other: Contributions) -> None:
        self.counters.update(other.counters)
        self.census.update(other.census)

    def rolled_up(self) -> Totals:
        """The cells to add at every level of the roll-up (ward, province, VN)."""
        return Totals(_rolled_up(self.counters, 1), _rolled_up(self.census, 0))

    def count(self, indicator: str, ward: str, on: date, known: date) -> None:
        self.counters[(indicator, ward, on.replace(day=1), known)] += 1

    def admission(self, row: dict[str, Any]) -> None:
        ward, known = row["ward"], row["admitted_known"]
        self.count(f"admissions.{row['modality']}", ward, row["admitted_on"], known)
        self.count(f"admissions.primary_{row['substance']}", ward, row["admitted_on"], known)
        self.census[(ward, row["modality"], row["admitted_on"], known)] += 1

    def discharge(self, row: dict[str, Any]) -> None:
        """An episode whose admission and end are both known now."""
        ward, modality, on = row["ward"], row["modality"], row["completed_on"]
        known = max(row["admitted_known"], row["completed_known"])
        self.count(f"discharges.{modality}", ward, on, known)
        self.count(f"discharges.outcome_{row['outcome']}", ward, on, known)
        if row["outcome"] == Outcome.COMPLETED:
            self.count(f"completions.{modality}", ward, on, known)
            if row["vocational"]:
                self.count("vocational_trained", ward, on, known)
        self.census[(ward, modality, on, known)] -= 1


async def apply_events(session: AsyncSession, events: list[Event]) -> list[Event]:
    """Apply a batch to every view, in one transaction that the caller commits; returns the events applied (the
    others were applied before, or are a second admission or end of an episode)."""
    applied, contributions = await apply_facts(session, events)
    await flush(session, contributions)
    return applied


async def apply_facts(session: AsyncSession, events: list[Event]) -> tuple[list[Event], Contributions]:
    """The first half of `apply_events`: the facts written, and what the applied events add to the totals."""
    contributions = Contributions()
    admitted: dict[str, AdmittedEvent] = {}
    completed: dict[str, CompletedEvent] = {}
    moved: dict[str, TransferredEvent] = {}
    additive: dict[str, Event] = {}
    for event in events:
        match event:
            case AdmittedEvent():
                admitted.setdefault(event.data.episode_id, event)
            case CompletedEvent():
                completed.setdefault(event.data.episode_id, event)
            case TransferredEvent():
                moved.setdefault(event.id, event)
            case RelapsedEvent() | EmployedEvent() | AftercareOpenedEvent():
                additive.setdefault(event.id, event)
    applied = await _admit(session, list(admitted.values()), contributions)
    applied += await _end(session, list(completed.values()), contributions)
    applied += await _transfer(session, list(moved.values()))
    for event in await claim(session, list(additive.values())):
        _count_additive(event, contributions)
        applied.append(event)
    return applied, contributions


def _count_additive(event: Event, into: Contributions) -> None:
    match event:
        case RelapsedEvent():
            into.count("relapses", _ward(event.data.unit), event.data.detected_on, known_on(event.time))
        case EmployedEvent():
            indicator = f"employment_supported.{event.data.support}"
            into.count(indicator, _ward(event.data.unit), event.data.employed_on, known_on(event.time))
        case AftercareOpenedEvent():
            into.count("aftercare_intake", _ward(event.data.unit), event.data.opened_on, known_on(event.time))


_ADMIT = text(
    """
    INSERT INTO episodes AS e (episode_id, subject, ward, province, modality, facility_id, admitted_on, admitted_known)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:subjects AS text[]), CAST(:wards AS text[]),
                         CAST(:provinces AS text[]), CAST(:modalities AS text[]), CAST(:facilities AS text[]),
                         CAST(:admitted_on AS date[]), CAST(:known AS date[]))
    ON CONFLICT (episode_id) DO UPDATE SET
        subject = EXCLUDED.subject, ward = EXCLUDED.ward, province = EXCLUDED.province,
        modality = EXCLUDED.modality, facility_id = EXCLUDED.facility_id,
        admitted_on = EXCLUDED.admitted_on, admitted_known = EXCLUDED.admitted_known
    WHERE e.admitted_on IS NULL
    RETURNING e.episode_id, e.completed_on, e.outcome, e.vocational, e.completed_known
    """
)


async def _admit(session: AsyncSession, events: Sequence[AdmittedEvent], into: Contributions) -> list[Event]:
    if not events:
        return []
    by_episode = {e.data.episode_id: e for e in events}
    rows = {
        e.data.episode_id: {
            "subject": e.subject,
            "ward": (ward := _ward(e.data.unit)),
            "province": units.province_of(ward),
            "modality": str(e.data.modality),
            "facility_id": e.data.facility_id,
            "admitted_on": e.data.admitted_on,
            "admitted_known": known_on(e.time),
            "substance": str(e.data.substances[0]),
        }
        for e in sorted(events, key=lambda e: e.data.episode_id)  # one lock order for every replica
    }
    result = await session.execute(
        _ADMIT,
        {
            "ids": list(rows),
            **{
                plural: [r[column] for r in rows.values()]
                for plural, column in (
                    ("subjects", "subject"),
                    ("wards", "ward"),
                    ("provinces", "province"),
                    ("modalities", "modality"),
                    ("facilities", "facility_id"),
                    ("admitted_on", "admitted_on"),
                    ("known", "admitted_known"),
                )
            },
        },
    )
    applied: list[Event] = []
    for done in result.mappings().all():
        row = rows[done["episode_id"]]
        into.admission(row)
        if done["completed_on"] is not None:
            into.discharge({**row, **done})
        applied.append(by_episode[done["episode_id"]])
    return applied


_END = text(
    """
    INSERT INTO episodes AS e (episode_id, completed_on, outcome, vocational, completed_known)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:completed_on AS date[]), CAST(:outcomes AS text[]),
                         CAST(:vocational AS boolean[]), CAST(:known AS date[]))
    ON CONFLICT (episode_id) DO UPDATE SET
        completed_on = EXCLUDED.completed_on, outcome = EXCLUDED.outcome, vocational = EXCLUDED.vocational,
        completed_known = EXCLUDED.completed_known
    WHERE e.completed_on IS NULL
    RETURNING e.episode_id, e.ward, e.modality, e.admitted_on, e.admitted_known
    """
)


async def _end(session: AsyncSession, events: Sequence[CompletedEvent], into: Contributions) -> list[Event]:
    if not events:
        return []
    by_episode = {e.data.episode_id: e for e in events}
    rows = {
        e.data.episode_id: {
            "completed_on": e.data.completed_on,
            "outcome": str(e.data.outcome),
            "vocational": e.data.vocational_training is not None,
            "completed_known": known_on(e.time),
        }
        for e in sorted(events, key=lambda e: e.data.episode_id)
    }
    result = await session.execute(
        _END,
        {
            "ids": list(rows),
            "completed_on": [r["completed_on"] for r in rows.values()],
            "outcomes": [r["outcome"] for r in rows.values()],
            "vocational": [r["vocational"] for r in rows.values()],
            "known": [r["completed_known"] for r in rows.values()],
        },
    )
    applied: list[Event] = []
    for done in result.mappings().all():
        if done["admitted_on"] is not None:  # else parked: the admission adds it when it comes
            into.discharge({**rows[done["episode_id"]], **done})
        applied.append(by_episode[done["episode_id"]])
    return applied


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


def _rolled_up(ward_keyed: Counter[tuple[Any, ...]], ward_at: int) -> Counter[tuple[Any, ...]]:
    rolled: Counter[tuple[Any, ...]] = Counter()
    get = rolled.get
    for key, value in ward_keyed.items():
        if value:
            before, after = key[:ward_at], key[ward_at + 1 :]
            for unit in units.rollup(key[ward_at]):
                cell = (*before, unit, *after)
                rolled[cell] = get(cell, 0) + value
    return rolled


def _columns(keys: Sequence[tuple[Any, ...]], values: Sequence[int], names: Sequence[str]) -> dict[str, list[Any]]:
    transposed = zip(*keys, strict=True)
    columns: dict[str, list[Any]] = {name: list(column) for name, column in zip(names, transposed, strict=True)}
    columns["values"] = list(values)
    return columns


_COUNTERS = text(
    """
    INSERT INTO indicator_totals AS t (indicator_id, unit, month, known_on, value)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:units AS text[]), CAST(:months AS date[]),
                         CAST(:known AS date[]), CAST(:values AS bigint[]))
    ON CONFLICT (indicator_id, unit, month, known_on) DO UPDATE SET value = t.value + EXCLUDED.value
    """
)
_CENSUS = text(
    """
    INSERT INTO census_changes AS t (unit, modality, day, known_on, value)
    SELECT * FROM unnest(CAST(:units AS text[]), CAST(:modalities AS text[]), CAST(:days AS date[]),
                         CAST(:known AS date[]), CAST(:values AS bigint[]))
    ON CONFLICT (unit, modality, day, known_on) DO UPDATE SET value = t.value + EXCLUDED.value
    """
)


async def _upsert(
    session: AsyncSession, statement: Any, summed: Counter[tuple[Any, ...]], names: Sequence[str]
) -> None:
    keys = sorted(k for k, v in summed.items() if v)  # sorted: one lock order for every replica, no deadlocks
    if keys:
        await session.execute(statement, _columns(keys, [summed[k] for k in keys], names))


@dataclass
class Totals:
    """Contributions rolled up: the cells of `indicator_totals` and `census_changes` to add to."""

    counters: Counter[tuple[Any, ...]]
    census: Counter[tuple[Any, ...]]

    def split(self, parts: int) -> list[Totals]:
        """Disjoint shares of the cells, to be written on as many connections at once without waiting on each
        other's row locks."""
        shares = [Totals(Counter(), Counter()) for _ in range(parts)]
        for key, value in self.counters.items():
            shares[hash(key) % parts].counters[key] = value
        for key, value in self.census.items():
            shares[hash(key) % parts].census[key] = value
        return shares


async def flush(session: AsyncSession, c: Contributions) -> None:
    """Roll a batch's contributions up to province and VN and add them to the views: two statements at most."""
    await write_totals(session, c.rolled_up())


async def write_totals(session: AsyncSession, totals: Totals) -> None:
    await _upsert(session, _COUNTERS, totals.counters, ("ids", "units", "months", "known"))
    await _upsert(session, _CENSUS, totals.census, ("units", "modalities", "days", "known"))


def mark_fresh(metrics: Metrics, applied: list[Event]) -> None:
    """`Consumer` after-commit hook: each view now includes the newest of the events just applied to it."""
    for view, newest in newest_by_view(applied).items():
        metrics.view_applied(view, newest)
