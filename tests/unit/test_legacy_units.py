"""Codes from before 1 July 2025 reported under today's units."""

from __future__ import annotations

from services.reporting.write.projections import unknown_unit
from shared import units
from tests.builders import an_admission, an_event


def test_every_old_province_lies_in_one_of_the_34() -> None:
    old = {f"{n:02d}" for n in range(1, 100) if units.legacy_province(f"{n:02d}") is not None}
    assert len(old) == 63
    assert all(units.is_province(units.legacy_province(code) or "") for code in old)
    assert units.legacy_province("02") == "08"  # Hà Giang is now part of Tuyên Quang
    assert units.legacy_province("70") == "75"  # Bình Phước is now part of Đồng Nai
    assert units.legacy_province("74") == "79"  # Bình Dương is now part of Hồ Chí Minh City
    assert all(units.legacy_province(p) == p for p in units.provinces())


def test_an_old_ward_maps_to_the_current_ward_it_lies_in() -> None:
    assert units.legacy_ward("00001") == "00097"  # Phúc Xá (Ba Đình) is in Hồng Hà ward now
    assert units.current_ward("00001") == "00097"
    for old, new in list(units._legacy()[0].items())[::500]:
        assert units.is_ward(new), old


def test_a_current_code_is_read_as_current_first() -> None:
    assert units.current_ward("00073") == "00073"  # also an old code, of a ward now in 00196
    assert units.legacy_ward("00073") == "00196"


def test_an_event_with_a_unit_that_is_neither_current_nor_old_is_refused() -> None:
    assert units.current_ward("99999") is None
    reason, detail = unknown_unit(an_event(an_admission(unit="99999"))) or ("", "")
    assert reason == "unknown_unit"
    assert "99999" in detail
    assert unknown_unit(an_event(an_admission(unit="00001"))) is None
