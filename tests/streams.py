"""Random streams of contract events for reporting's property tests, and a simple oracle that recomputes the
figures from the accepted events alone (no SQL, no views), written independently of the projection."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import strategies as st

from shared import units
from shared.events import (
    RESIDENTIAL,
    AdmittedEvent,
    AftercareOpened,
    AftercareOpenedEvent,
    CompletedEvent,
    EmployedEvent,
    Event,
    Modality,
    Outcome,
    RelapsedEvent,
    TransferredEvent,
    new_event,
)
from tests.builders import a_completion, an_admission

SUBJECTS = [f"{i:02d}" * 32 for i in range(6)]
FACILITIES = ["fac-a", "fac-b", "fac-c"]
#: Wards of two provinces, and an old (pre-July-2025) Đồng Nai ward code that is not a current code.
LEGACY_DONG_NAI = next(
    code
    for code, ward in sorted(units._legacy()[0].items())
    if units.province_of(ward) == "75" and not units.is_ward(code)
)
WARDS = ["00070", "00073", "26068", LEGACY_DONG_NAI]
START = date(2023, 1, 1)


def _at(day: date, lag: int) -> datetime:
    return datetime.combine(day + timedelta(days=lag), time(3), UTC)


def _event(data: Any, subject: str, day: date, lag: int) -> Event:
    return new_event(data, subject=subject, source="/vn/agency/test", time=_at(day, lag))


@st.composite
def episode_events(draw: st.DrawFn, number: int) -> list[Event]:
    """The events of one episode: its admission, maybe transfers and an end, maybe aftercare facts."""
    episode_id = f"ep-{number}"
    subject = draw(st.sampled_from(SUBJECTS))
    modality = draw(st.sampled_from(list(Modality)))
    admitted_on = START + timedelta(days=draw(st.integers(0, 700)))
    facility = draw(st.sampled_from(FACILITIES)) if modality in RESIDENTIAL else None
    admission = an_admission(
        episode_id=episode_id,
        modality=modality,
        admitted_on=admitted_on,
        unit=draw(st.sampled_from(WARDS)),
        facility_id=facility,
        substances=draw(st.sampled_from([["ats"], ["opioid", "ats"], ["cannabis"], ["other"]])),
        legal_basis="QĐ 1/TA" if modality == Modality.COMPULSORY else None,
    )
    events = [_event(admission, subject, admitted_on, draw(st.integers(0, 90)))]
    ended_on = admitted_on + timedelta(days=draw(st.one_of(st.integers(0, 10), st.integers(0, 400))))
    if facility is not None:
        here = facility
        for _ in range(draw(st.integers(0, 2))):
            moved_on = admitted_on + timedelta(days=draw(st.integers(0, 400)))
            there = draw(st.sampled_from([f for f in FACILITIES if f != here]))
            data = {"episode_id": episode_id, "transferred_on": moved_on, "from_facility_id": here}
            move = TransferredEvent.model_fields["data"].annotation.model_validate_json(  # type: ignore[union-attr]
                json.dumps(data | {"to_facility_id": there, "reason": "capacity"}, default=str)
            )
            events.append(_event(move, subject, moved_on, draw(st.integers(0, 30))))
            here = there
    if draw(st.booleans()):
        outcome = draw(st.sampled_from(list(Outcome)))
        trade = draw(st.sampled_from([None, "may mặc"]))
        end = a_completion(
            episode_id=episode_id,
            completed_on=ended_on,
            outcome=outcome,
            vocational_training=trade,
            return_unit=draw(st.sampled_from(WARDS)),
        )
        events.append(_event(end, subject, ended_on, draw(st.integers(0, 60))))
        if draw(st.booleans()):
            ward = draw(st.sampled_from(WARDS))
            opened = AftercareOpened(episode_id=episode_id, opened_on=ended_on, unit=ward)
            events.append(_event(opened, subject, ended_on, draw(st.integers(0, 20))))
            later = ended_on + timedelta(days=draw(st.integers(1, 100)))
            kind = draw(st.sampled_from(["relapsed", "employed", None]))
            if kind is not None:
                fact: dict[str, Any] = {"episode_id": episode_id, "unit": ward}
                model = (RelapsedEvent if kind == "relapsed" else EmployedEvent).model_fields["data"].annotation
                if kind == "relapsed":
                    fact["detected_on"] = later
                else:
                    fact |= {"employed_on": later, "support": draw(st.sampled_from(["loan", "job_placement"]))}
                data = model.model_validate_json(json.dumps(fact, default=str))  # type: ignore[union-attr]
                events.append(_event(data, subject, later, draw(st.integers(0, 20))))
    return events


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    count = draw(st.integers(1, 14))
    return [e for n in range(count) for e in draw(episode_events(n))]


@st.composite
def deliveries(draw: st.DrawFn, events: list[Event]) -> list[list[Event]]:
    """The events as a consumer might get them: some twice, shuffled across topics, cut into batches."""
    copies = events + draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    shuffled = draw(st.permutations(copies))
    cuts = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=6)))
    bounds = [0, *cuts, len(shuffled)]
    return [list(shuffled[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


# --- the oracle ---------------------------------------------------------------------------------------------


def _known(event: Event) -> date:
    return event.time.astimezone(timezone_vn()).date()


def timezone_vn() -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=7))


def _in(unit: str, code: str) -> bool:
    ward = units.current_ward(code)
    assert ward is not None
    return unit in units.rollup(ward)


@dataclass(frozen=True)
class Oracle:
    events: Sequence[Event]

    def _admissions(self, as_of: date | None) -> list[AdmittedEvent]:
        return [e for e in self.events if isinstance(e, AdmittedEvent) and (as_of is None or _known(e) <= as_of)]

    def _ends(self, as_of: date | None) -> list[tuple[AdmittedEvent, CompletedEvent]]:
        admitted = {e.data.episode_id: e for e in self._admissions(as_of)}
        return [
            (admitted[e.data.episode_id], e)
            for e in self.events
            if isinstance(e, CompletedEvent) and e.data.episode_id in admitted and (as_of is None or _known(e) <= as_of)
        ]

    def counter(self, indicator: str, unit: str, first: date, end: date, as_of: date | None) -> int:
        n = 0
        for a in self._admissions(as_of):
            if first <= a.data.admitted_on <= end and _in(unit, a.data.unit):
                n += indicator == f"admissions.{a.data.modality}"
                n += indicator == f"admissions.primary_{a.data.substances[0]}"
        for a, c in self._ends(as_of):
            if first <= c.data.completed_on <= end and _in(unit, a.data.unit):
                n += indicator in (f"discharges.{a.data.modality}", f"discharges.outcome_{c.data.outcome}")
                if c.data.outcome == Outcome.COMPLETED:
                    n += indicator == f"completions.{a.data.modality}"
                    n += indicator == "vocational_trained" and c.data.vocational_training is not None
        for e in self.events:
            if as_of is not None and _known(e) > as_of:
                continue
            match e:
                case AftercareOpenedEvent() if first <= e.data.opened_on <= end and _in(unit, e.data.unit):
                    n += indicator == "aftercare_intake"
                case RelapsedEvent() if first <= e.data.detected_on <= end and _in(unit, e.data.unit):
                    n += indicator == "relapses"
                case EmployedEvent() if first <= e.data.employed_on <= end and _in(unit, e.data.unit):
                    n += indicator == f"employment_supported.{e.data.support}"
        return n

    def persons(self, unit: str, first: date, end: date, as_of: date | None) -> int:
        return len(
            {
                a.subject
                for a in self._admissions(as_of)
                if first <= a.data.admitted_on <= end and _in(unit, a.data.unit)
            }
        )

    def first_time(self, unit: str, first: date, end: date, as_of: date | None) -> int:
        earliest: dict[str, AdmittedEvent] = {}
        for a in self._admissions(as_of):
            mine = earliest.get(a.subject)
            if mine is None or (a.data.admitted_on, a.data.episode_id) < (mine.data.admitted_on, mine.data.episode_id):
                earliest[a.subject] = a
        return sum(1 for a in earliest.values() if first <= a.data.admitted_on <= end and _in(unit, a.data.unit))

    def _residents(self, on: date, as_of: date | None) -> list[AdmittedEvent]:
        ended = {a.data.episode_id for a, c in self._ends(as_of) if c.data.completed_on <= on}
        return [a for a in self._admissions(as_of) if a.data.admitted_on <= on and a.data.episode_id not in ended]

    def census(self, unit: str, on: date, as_of: date | None) -> dict[str, int]:
        found: dict[str, int] = {}
        for a in self._residents(on, as_of):
            if _in(unit, a.data.unit):
                found[a.data.modality] = found.get(a.data.modality, 0) + 1
        return found

    def facility_census(self, facility: str, on: date, as_of: date | None) -> dict[str, int]:
        moves = [
            e
            for e in self.events
            if isinstance(e, TransferredEvent) and e.data.transferred_on <= on and (as_of is None or _known(e) <= as_of)
        ]
        found: dict[str, int] = {}
        for a in self._residents(on, as_of):
            mine = [m for m in moves if m.data.episode_id == a.data.episode_id]
            last = max(mine, key=lambda m: (m.data.transferred_on, _known(m), m.id), default=None)
            here = last.data.to_facility_id if last is not None else a.data.facility_id
            if here == facility:
                found[a.data.modality] = found.get(a.data.modality, 0) + 1
        return found

    def lengths_of_stay(
        self, unit: str, first: date, end: date, as_of: date | None
    ) -> dict[tuple[str, str], list[int]]:
        found: dict[tuple[str, str], list[int]] = {}
        for a, c in self._ends(as_of):
            if first <= c.data.completed_on <= end and _in(unit, a.data.unit):
                key = (str(a.data.modality), str(c.data.outcome))
                found.setdefault(key, []).append((c.data.completed_on - a.data.admitted_on).days)
        return found


def unique(events: Iterable[Event]) -> list[Event]:
    return list({e.id: e for e in events}.values())
