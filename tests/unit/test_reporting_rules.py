"""Reporting's pure rules: the catalogue, achievement against a target, rates, medians, suppression."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.reporting.catalogue import CATALOGUE, COUNTERS, Counts, Kind, groups
from services.reporting.domain import Group, achievement_pct, known_on, median, percentage, suppress
from services.reporting.read.tables import withheld_indicators
from shared.events import Modality


def test_the_catalogue_declares_the_design_minimum_and_policy_indicators() -> None:
    required = {
        *(f"admissions.{m}" for m in Modality),
        "admissions.total",
        "persons_admitted",
        "completions",
        "vocational_trained",
        "aftercare_intake",
        "aftercare_coverage_pct",
        "employment_supported",
        "relapses",
        "relapse_rate_pct",
        "admissions.primary_ats_pct",
        "admissions.voluntary",
        "admissions.voluntary_share_pct",
        "first_time_entrants",
        "completion_rate_pct",
    }
    assert required <= set(CATALOGUE)
    for indicator in CATALOGUE.values():
        assert indicator.label_vi and indicator.label_en and indicator.fed_by
        assert all(part in CATALOGUE for part in indicator.parts), indicator.id
        if indicator.kind == Kind.RATIO:
            assert len(indicator.parts) == 2 and indicator.counts == Counts.PERCENT and not indicator.targets
    assert CATALOGUE["persons_admitted"].counts == Counts.PERSONS
    assert CATALOGUE["admissions.compulsory"].counts == Counts.EPISODES
    assert all(CATALOGUE[i].kind == Kind.COUNTER for i in COUNTERS)


@pytest.mark.parametrize(
    ("value", "target", "pct"),
    [(1801, 750, 240.13), (1163, 750, 155.06), (4100, 1500, 273.33), (825, 700, 117.85), (846, 1500, 56.4)],
)
def test_achievement_is_cut_to_two_decimals_as_dong_nai_writes_it(value: int, target: int, pct: float) -> None:
    assert achievement_pct(value, target) == pct


def test_no_target_no_achievement() -> None:
    assert achievement_pct(5, None) is None
    assert achievement_pct(5, 0) is None


def test_rates_round_half_up_and_need_a_denominator() -> None:
    assert percentage(1, 3) == 33.33
    assert percentage(2, 3) == 66.67
    assert percentage(1, 0) is None


def test_median() -> None:
    assert median([]) is None
    assert median([5]) == 5
    assert median([9, 1, 5]) == 5
    assert median([1, 2, 3, 10]) == 2.5


def test_knowledge_dates_are_vietnamese_dates() -> None:
    assert str(known_on(datetime(2024, 6, 13, 18, 0, tzinfo=UTC))) == "2024-06-14"


TABLE = Group("VN", ("01", "75", "46", "79"))


def test_a_small_cell_is_withheld_with_the_next_smallest_so_the_total_does_not_give_it_away() -> None:
    hidden = suppress({"VN": 120, "01": 3, "75": 100, "46": 0, "79": 17}, [TABLE], 5)
    assert hidden == {"01", "79"}


def test_withheld_cells_together_must_not_be_small_either() -> None:
    hidden = suppress({"VN": 103, "01": 1, "75": 100, "46": 0, "79": 2}, [TABLE], 5)
    assert hidden == {"01", "79", "75"}


def test_nothing_is_withheld_without_small_cells() -> None:
    assert suppress({"VN": 200, "01": 100, "75": 100, "46": 0, "79": 0}, [TABLE], 5) == set()


def test_a_group_with_one_part_withholds_its_total() -> None:
    assert suppress({"a": 3, "b": 3}, [Group("b", ("a",))], 5) == {"a", "b"}


def test_suppression_follows_a_withheld_cell_into_every_group_it_belongs_to() -> None:
    values: dict[str, int | float] = {i: 0 for i in CATALOGUE}
    values |= {"admissions.compulsory": 40, "admissions.voluntary_facility": 2, "admissions.voluntary_community": 30}
    values |= {"admissions.total": 72, "admissions.voluntary": 32, "admissions.compulsory_or_voluntary": 72}
    values |= {"admissions.primary_ats": 72, "admissions.primary_ats_pct": 100.0}
    hidden = withheld_indicators(values, 5)
    assert "admissions.voluntary_facility" in hidden
    # voluntary = facility + community: withholding facility alone would leave it as voluntary - community
    assert "admissions.voluntary_community" in hidden or "admissions.voluntary" in hidden
    shares = {"admissions.voluntary", "admissions.compulsory_or_voluntary"}
    assert ("admissions.voluntary_share_pct" in hidden) == bool(shares & hidden)
    assert "admissions.primary_ats_pct" not in hidden  # both of its counts are published
    for group in groups():
        inside = [p for p in group.parts if p in hidden]
        if inside and group.total not in hidden:
            assert len(inside) >= 2 and sum(int(values[p]) for p in inside) >= 5, group
