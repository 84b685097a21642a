"""Administrative units and their roll-up."""

from __future__ import annotations

import pytest

from shared import units
from shared.auth import Principal


def test_a_ward_rolls_up_to_its_province_and_the_country() -> None:
    assert units.rollup("00070") == ("00070", "01", "VN")


def test_there_are_34_provinces_since_july_2025() -> None:
    assert len(units.provinces()) == 34
    assert units.is_province("75") and not units.is_province("99")


def test_a_jurisdiction_covers_its_wards() -> None:
    hanoi = Principal("hanoi-dolisa", frozenset({"01"}))
    assert hanoi.covers("01") and hanoi.covers("00070")
    assert not hanoi.covers("75") and not hanoi.covers("VN")
    ministry = Principal("molisa", frozenset({"VN"}))
    assert ministry.covers("75") and ministry.covers("VN")


def test_suite_wide_settings_are_read_without_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.facility.settings import Settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://x@localhost/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    monkeypatch.setenv("HOINHAP_ADMIN_TOKEN", "a" * 20)
    monkeypatch.setenv("HOINHAP_OUTBOX_POLL_SECONDS", "0.2")
    monkeypatch.setenv("HOINHAP_FACILITY_PORT", "9100")
    settings = Settings()
    assert settings.outbox_poll_seconds == 0.2
    assert settings.port == 9100
    assert settings.service == "facility"
