"""Facility's rules: who becomes a resident, stays day by day, when transfers and discharges may be recorded."""

from __future__ import annotations

import re
from datetime import date

import pytest

from services.facility.domain import (
    DateOrderError,
    FacilityFullError,
    FacilityNotRegisteredError,
    ModalityNotOfferedError,
    NotResidentError,
    Stay,
    becomes_resident,
    check_discharge,
    check_transfer,
    facility_subject,
    leave,
    move,
)
from tests.builders import an_admission

JAN, MAR, MAY, JUL = date(2024, 1, 1), date(2024, 3, 1), date(2024, 5, 1), date(2024, 7, 1)


def test_residential_modalities_and_methadone_at_a_facility_make_residents() -> None:
    assert becomes_resident(an_admission(modality="temporary_stay", legal_basis=None))
    assert becomes_resident(an_admission(modality="methadone", legal_basis=None, facility_id="f1"))
    assert not becomes_resident(an_admission(modality="methadone", legal_basis=None, facility_id=None))
    assert not becomes_resident(an_admission(modality="voluntary_community", legal_basis=None, facility_id=None))


def test_a_move_ends_the_stay_that_day_and_begins_one_at_the_new_facility() -> None:
    assert move([Stay("a", "compulsory", JAN)], MAR, "a", "b") == [
        Stay("a", "compulsory", JAN, MAR),
        Stay("b", "compulsory", MAR, None),
    ]


def test_a_move_learned_after_the_discharge_splits_the_stay_it_falls_in() -> None:
    assert move([Stay("a", "compulsory", JAN, JUL)], MAR, "a", "b") == [
        Stay("a", "compulsory", JAN, MAR),
        Stay("b", "compulsory", MAR, JUL),
    ]


def test_a_move_from_where_the_resident_was_not_waits() -> None:
    assert move([Stay("a", "compulsory", JAN)], MAR, "c", "b") is None
    assert move([Stay("a", "compulsory", MAR)], JAN, "a", "b") is None


def test_a_move_recorded_before_changes_nothing() -> None:
    stays = [Stay("a", "compulsory", JAN, MAR), Stay("b", "compulsory", MAR)]
    assert move(stays, MAR, "a", "b") == stays


def test_leaving_ends_the_open_stay_not_before_it_began() -> None:
    assert leave([Stay("a", "compulsory", JAN, MAR), Stay("b", "compulsory", MAR)], MAY) == [
        Stay("a", "compulsory", JAN, MAR),
        Stay("b", "compulsory", MAR, MAY),
    ]
    assert leave([Stay("a", "compulsory", MAR)], JAN) is None
    assert leave([Stay("a", "compulsory", JAN, MAR)], MAY) is None


def test_a_transfer_goes_to_a_registered_facility_offering_the_modality_with_a_free_place() -> None:
    stays = [Stay("a", "compulsory", JAN)]
    assert check_transfer(stays, MAR, "b", {"compulsory": 10}, 9) == stays[0]
    with pytest.raises(FacilityNotRegisteredError, match="to_facility_id is not a registered facility"):
        check_transfer(stays, MAR, "b", None, 0)
    with pytest.raises(ModalityNotOfferedError, match="b does not offer compulsory"):
        check_transfer(stays, MAR, "b", {"voluntary_facility": 10}, 0)
    with pytest.raises(FacilityFullError, match="no compulsory place free on 2024-03-01: 10 residents for 10 places"):
        check_transfer(stays, MAR, "b", {"compulsory": 10}, 10)


def test_a_transfer_moves_a_current_resident_no_earlier_than_their_stay_began() -> None:
    with pytest.raises(NotResidentError):
        check_transfer([Stay("a", "compulsory", JAN, MAR)], MAY, "b", {"compulsory": 10}, 0)
    with pytest.raises(DateOrderError, match="transferred_on is before the current stay began on 2024-03-01"):
        check_transfer(
            [Stay("x", "compulsory", JAN, MAR), Stay("a", "compulsory", MAR)], JAN, "b", {"compulsory": 9}, 0
        )


def test_a_discharge_ends_a_current_stay_no_earlier_than_it_began() -> None:
    check_discharge([Stay("a", "compulsory", JAN)], MAR)
    with pytest.raises(NotResidentError):
        check_discharge([Stay("a", "compulsory", JAN, MAR)], MAY)
    with pytest.raises(DateOrderError, match="completed_on is before the current stay began"):
        check_discharge([Stay("a", "compulsory", MAR)], JAN)


def test_a_facilitys_events_have_a_stable_subject_of_their_own() -> None:
    assert facility_subject("hn-cs3") == facility_subject("hn-cs3") != facility_subject("hn-cs4")
    assert re.fullmatch(r"[0-9a-f]{64}", facility_subject("hn-cs3"))
