"""Aftercare's rules: who is taken into post-treatment management, and what may be recorded while it lasts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.events import Modality, Outcome


class AftercareError(Exception):
    """A request aftercare refuses; the message names ids and fields, never personal data."""


class CaseNotFoundError(AftercareError):
    pass


class CaseClosedError(AftercareError):
    pass


class DateOrderError(AftercareError):
    pass


#: Treatment proper; a temporary stay and status determination precede treatment, nothing follows them here.
TREATMENT = frozenset(
    {Modality.COMPULSORY, Modality.VOLUNTARY_FACILITY, Modality.VOLUNTARY_COMMUNITY, Modality.METHADONE}
)


@dataclass(frozen=True)
class Case:
    """Post-treatment management of one person after one episode (quản lý sau cai nghiện)."""

    episode_id: str
    opened_on: date
    closed_on: date | None = None


def opens_aftercare(modality: str, outcome: str) -> bool:
    """Whoever completed treatment is managed where they return to, and so is everyone discharged from compulsory
    treatment, whatever the reason, as the provinces' plans require of all of them ("100% số người đã cai nghiện
    bắt buộc ... trở về cộng đồng"); not those who absconded (they have not returned) nor those who died."""
    if modality not in TREATMENT:
        return False
    return outcome == Outcome.COMPLETED or (modality == Modality.COMPULSORY and outcome == Outcome.TERMINATED)


def check_open(case: Case, on: date, field: str) -> None:
    """Relapses and support are recorded while management lasts, not before it began."""
    if case.closed_on is not None:
        raise CaseClosedError(f"post-treatment management of episode {case.episode_id} closed on {case.closed_on}")
    if on < case.opened_on:
        raise DateOrderError(f"{field} is before management of episode {case.episode_id} began on {case.opened_on}")
