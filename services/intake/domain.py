"""Intake's rules: pseudonymising a national ID, where each modality takes place, who may be admitted, and which
earlier episode a re-admission follows."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from shared.events import RESIDENTIAL, Modality


class IntakeError(Exception):
    """A request intake refuses; the message names ids and fields, never personal data."""


class EpisodeNotFoundError(IntakeError):
    pass


class PersonNotRegisteredError(IntakeError):
    pass


class FacilityNotRegisteredError(IntakeError):
    pass


class ModalityNotOfferedError(IntakeError):
    pass


class ResidentialEpisodeOpenError(IntakeError):
    pass


class PreviousEpisodeError(IntakeError):
    pass


class EpisodeAtFacilityError(IntakeError):
    pass


class EpisodeEndedError(IntakeError):
    pass


class DateOrderError(IntakeError):
    pass


@dataclass(frozen=True)
class EpisodeState:
    """What intake knows of one episode: how it began, and whether it ended or was followed by a relapse."""

    episode_id: str
    modality: str
    admitted_on: date
    facility_id: str | None = None
    previous_episode_id: str | None = None
    ended_on: date | None = None
    relapsed_on: date | None = None


def pseudonymise(national_id: str, key: bytes) -> str:
    """The `subject` of a person: a keyed hash of their national ID, the same for every registration."""
    return hmac.new(key, national_id.strip().encode(), hashlib.sha256).hexdigest()


def place_problem(modality: str, facility_id: str | None, service_point_id: str | None) -> tuple[str, str] | None:
    """Where the modality takes place, as the law has it: the (field, rule) an admission breaks, or None.
    (That residential modalities name a facility, and community treatment does not, is the contract's rule.)"""
    if modality == Modality.VOLUNTARY_COMMUNITY and service_point_id is None:
        return "service_point_id", "is required for voluntary_community treatment: the commune service point"
    if modality == Modality.METHADONE and (facility_id is None) == (service_point_id is None):
        return "facility_id", "methadone is dispensed at a facility or at a community service point: give exactly one"
    if modality in RESIDENTIAL and service_point_id is not None:
        return "service_point_id", f"is only for treatment in the community, not for {modality}"
    return None


def check_facility(modality: str, facility_id: str | None, offered: Collection[str] | None) -> None:
    """A facility named by an admission is registered and offers the modality (`offered` None: not registered)."""
    if facility_id is None:
        return
    if offered is None:
        raise FacilityNotRegisteredError("facility_id is not registered with the facility service")
    if modality not in offered:
        raise ModalityNotOfferedError(f"facility {facility_id} does not offer {modality}")


def check_no_open_residential(modality: str, episodes: Sequence[EpisodeState]) -> None:
    """A person holds at most one open residential episode: it must end before another begins."""
    if modality not in RESIDENTIAL:
        return
    for e in episodes:
        if e.modality in RESIDENTIAL and e.ended_on is None:
            raise ResidentialEpisodeOpenError(
                f"the person is still in residential episode {e.episode_id}; it must end before another begins"
            )


def previous_episode(requested: str | None, episodes: Sequence[EpisodeState]) -> str | None:
    """The earlier episode a new admission follows: the one requested, which must be the person's own, or else
    the person's latest episode followed by a relapse that no later admission follows yet."""
    if requested is not None:
        if requested not in {e.episode_id for e in episodes}:
            raise PreviousEpisodeError("previous_episode_id is not an episode of this person")
        return requested
    followed = {e.previous_episode_id for e in episodes}
    relapsed = [e for e in episodes if e.relapsed_on is not None and e.episode_id not in followed]
    if not relapsed:
        return None
    return max(relapsed, key=lambda e: (e.relapsed_on or e.admitted_on, e.admitted_on)).episode_id


def check_community_completion(episode: EpisodeState, completed_on: date) -> None:
    """Intake records the end of treatment in the community; facilities record the discharges of their residents."""
    if episode.modality in RESIDENTIAL or episode.facility_id is not None:
        raise EpisodeAtFacilityError(
            f"episode {episode.episode_id} is at facility {episode.facility_id}: the facility service discharges it"
        )
    if episode.ended_on is not None:
        raise EpisodeEndedError(f"episode {episode.episode_id} already ended on {episode.ended_on}")
    if completed_on < episode.admitted_on:
        raise DateOrderError(f"completed_on is before episode {episode.episode_id} was admitted")
