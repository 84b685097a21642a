"""The NOTIFY channel that tells reporting processes their kept reads are out of date."""

from __future__ import annotations

from services.reporting.cache import channel


def test_every_schema_gets_a_channel_postgresql_accepts_and_its_own() -> None:
    names = ["reporting", "reporting_fresh", "r" * 49, "r" * 50, "báo_cáo_" * 10, "s" * 200, "s" * 201]
    channels = [channel(n) for n in names]
    assert all(len(c.encode()) <= 63 for c in channels)  # NAMEDATALEN - 1: pg_notify refuses longer
    assert len(set(channels)) == len(names)
    assert channel("reporting") == "hoinhap_views_reporting"
