"""Reporting periods as agencies write them."""

from __future__ import annotations

from datetime import date

import pytest

from services.reporting.domain import PeriodError, parse_period


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2024", date(2024, 1, 1), date(2024, 12, 1)),
        ("2024-H1", date(2024, 1, 1), date(2024, 6, 1)),
        ("2024-H2", date(2024, 7, 1), date(2024, 12, 1)),
        ("2024-Q3", date(2024, 7, 1), date(2024, 9, 1)),
        ("2024-06", date(2024, 6, 1), date(2024, 6, 1)),
        ("2016/2020", date(2016, 1, 1), date(2020, 12, 1)),
        ("2016-01/2020-09", date(2016, 1, 1), date(2020, 9, 1)),
        ("2023-H2/2024-Q1", date(2023, 7, 1), date(2024, 3, 1)),
    ],
)
def test_periods_cover_whole_months(text: str, first: date, last: date) -> None:
    period = parse_period(text)
    assert (period.first, period.last) == (first, last)


@pytest.mark.parametrize("text", ["2024", "2024-H1", "2024-Q3", "2024-06", "2016/2020", "2016-01/2020-09"])
def test_a_period_prints_as_it_was_written(text: str) -> None:
    assert str(parse_period(text)) == text


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2016/2020", "2011/2015"),  # "tăng 481 lượt người so với giai đoạn 2011-2015"
        ("2024-H1", "2023-H2"),
        ("2024-Q1", "2023-Q4"),
        ("2024-01", "2023-12"),
        ("2024", "2023"),
        ("2016-01/2020-09", "2011-04/2015-12"),
    ],
)
def test_the_previous_period_has_the_same_length(text: str, previous: str) -> None:
    assert str(parse_period(text).previous()) == previous


@pytest.mark.parametrize("text", ["", "24", "2024-13", "2024-H3", "2024-Q5", "2020/2016", "2024-1", "abc", "1850"])
def test_malformed_periods_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(PeriodError, match="period"):
        parse_period(text)
