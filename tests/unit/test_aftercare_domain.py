"""Aftercare's rules: who is taken into post-treatment management, and what may be recorded while it lasts."""

from __future__ import annotations

from datetime import date

import pytest

from services.aftercare.domain import Case, CaseClosedError, DateOrderError, check_open, opens_aftercare
from shared.events import Modality, Outcome


@pytest.mark.parametrize("modality", ["compulsory", "voluntary_facility", "voluntary_community", "methadone"])
def test_whoever_completed_treatment_is_managed_after_it(modality: str) -> None:
    assert opens_aftercare(modality, "completed")


@pytest.mark.parametrize("modality", ["temporary_stay", "status_determination"])
def test_a_temporary_stay_or_status_determination_is_not_treatment_and_opens_nothing(modality: str) -> None:
    assert not opens_aftercare(modality, "completed")


def test_every_compulsory_discharge_opens_management_but_absconding_or_death() -> None:
    opened = {outcome for outcome in Outcome if opens_aftercare(Modality.COMPULSORY, outcome)}
    assert opened == {Outcome.COMPLETED, Outcome.TERMINATED}


def test_voluntary_treatment_ended_early_opens_nothing() -> None:
    assert not opens_aftercare("voluntary_facility", "terminated")
    assert not opens_aftercare("voluntary_community", "absconded")


def test_relapses_and_support_are_recorded_while_management_lasts() -> None:
    check_open(Case("e1", date(2024, 3, 1)), date(2024, 3, 1), "detected_on")
    with pytest.raises(CaseClosedError, match="closed on 2024-05-01"):
        check_open(Case("e1", date(2024, 3, 1), date(2024, 5, 1)), date(2024, 6, 1), "employed_on")
    with pytest.raises(DateOrderError, match="employed_on is before management of episode e1 began"):
        check_open(Case("e1", date(2024, 3, 1)), date(2024, 2, 1), "employed_on")
