"""Facility's rules: who becomes a resident, where a resident stays day by day, and when a transfer or a discharge
may be recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from shared.events import RESIDENTIAL, Admitted, Modality


class FacilityError(Exception):
    """A request facility refuses; the message names ids and fields, never personal data."""


class FacilityNotFoundError(FacilityError):
    pass


class ResidentNotFoundError(FacilityError):
    pass


class FacilityExistsError(FacilityError):
    pass


class FacilityNotRegisteredError(FacilityError):
    pass


class ModalityNotOfferedError(FacilityError):
    pass


class FacilityFullError(FacilityError):
    pass


class NotResidentError(FacilityError):
    pass


class DateOrderError(FacilityError):
    pass


@dataclass(frozen=True)
class Stay:
    """Days a resident spent at one facility: from `started_on` up to, not including, `ended_on` (None: still there)."""

    facility_id: str
    modality: str
    started_on: date
    ended_on: date | None = None

    def covers(self, day: date) -> bool:
        return self.started_on <= day and (self.ended_on is None or day < self.ended_on)


def awaiting_registration(facility_id: str) -> str:
    """The parking key of admissions into a facility not registered yet."""
    return f"facility:{facility_id}"


#: An admission that waited in vain for its facility's registration is dead-lettered as `unknown_facility`.
EXPIRIES = {awaiting_registration(""): ("unknown_facility", "data.facility_id: no facility of that id was registered")}


def facility_subject(facility_id: str) -> str:
    """The record key of a facility's registry events: one facility's changes stay in order on one partition."""
    return hashlib.sha256(f"facility:{facility_id}".encode()).hexdigest()


def becomes_resident(admitted: Admitted) -> bool:
    """Residential modalities, and methadone when it is dispensed at a facility."""
    return admitted.modality in RESIDENTIAL or (
        admitted.modality == Modality.METHADONE and admitted.facility_id is not None
    )


def first_stay(admitted: Admitted) -> Stay:
    assert admitted.facility_id is not None
    return Stay(admitted.facility_id, admitted.modality, admitted.admitted_on)


def open_stay(stays: Sequence[Stay]) -> Stay | None:
    return next((s for s in stays if s.ended_on is None), None)


def current_stay(stays: Sequence[Stay]) -> Stay:
    """Where a resident is: their open stay, or their last one once discharged."""
    return open_stay(stays) or max(stays, key=lambda s: s.started_on)


def move(stays: Sequence[Stay], on: date, from_facility: str, to_facility: str) -> list[Stay] | None:
    """The stays after a move on `on`: the stay that covers the day ends, one at the new facility begins and lasts
    as long as the old one would have. None when the resident was not at `from_facility` that day."""
    if any(s.facility_id == to_facility and s.started_on == on for s in stays):
        return list(stays)  # recorded before, under another event id
    current = next((s for s in stays if s.covers(on)), None)
    if current is None or current.facility_id != from_facility:
        return None
    moved = Stay(to_facility, current.modality, on, current.ended_on)
    return [s for s in stays if s is not current] + [replace(current, ended_on=on), moved]


def leave(stays: Sequence[Stay], on: date) -> list[Stay] | None:
    """The stays after a discharge on `on`; None when no open stay had begun by then."""
    current = open_stay(stays)
    if current is None or current.started_on > on:
        return None
    return [s for s in stays if s is not current] + [replace(current, ended_on=on)]


def check_transfer(
    stays: Sequence[Stay], on: date, to_facility: str, capacity: Mapping[str, int] | None, occupied: int
) -> Stay:
    """A transfer is recorded from the resident's current facility, no earlier than their stay there began, to a
    registered facility that offers the modality and has a place free that day. Returns the current stay."""
    current = open_stay(stays)
    if current is None:
        raise NotResidentError("the episode's resident has been discharged")
    if on < current.started_on:
        raise DateOrderError(f"transferred_on is before the current stay began on {current.started_on}")
    if capacity is None:
        raise FacilityNotRegisteredError("to_facility_id is not a registered facility")
    if current.modality not in capacity:
        raise ModalityNotOfferedError(f"facility {to_facility} does not offer {current.modality}")
    if occupied >= capacity[current.modality]:
        raise FacilityFullError(
            f"facility {to_facility} has no {current.modality} place free on {on}: "
            f"{occupied} residents for {capacity[current.modality]} places"
        )
    return current


def check_discharge(stays: Sequence[Stay], on: date) -> None:
    """A discharge ends a current stay, no earlier than it began."""
    current = open_stay(stays)
    if current is None:
        raise NotResidentError("the episode's resident has been discharged")
    if on < current.started_on:
        raise DateOrderError(f"completed_on is before the current stay began on {current.started_on}")
