"""Reporting's rules: reporting periods and the indicator catalogue."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from shared.events import Modality


class PeriodError(ValueError):
    """A period that is not one of YYYY, YYYY-Hn, YYYY-Qn, YYYY-MM, or START/END of those."""


@dataclass(frozen=True)
class Period:
    """A run of whole months, from the month of `first` to the month of `last` (both the 1st of a month)."""

    first: date
    last: date

    @property
    def months(self) -> int:
        return (self.last.year - self.first.year) * 12 + self.last.month - self.first.month + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(_add_months(self.first, -self.months), _add_months(self.first, -1))

    def __str__(self) -> str:
        """The shortest of the accepted forms: 2024, 2024-H1, 2024-Q3, 2024-06, 2016/2020, 2016-01/2020-09."""
        first, last, months = self.first, self.last, self.months
        if first.month == 1 and last.month == 12:
            return f"{first.year}" if first.year == last.year else f"{first.year}/{last.year}"
        if months == 6 and first.month in (1, 7):
            return f"{first.year}-H{first.month // 6 + 1}"
        if months == 3 and first.month % 3 == 1:
            return f"{first.year}-Q{first.month // 3 + 1}"
        if months == 1:
            return f"{first:%Y-%m}"
        return f"{first:%Y-%m}/{last:%Y-%m}"


_SINGLE = re.compile(r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|H(?P<half>[12])|Q(?P<quarter>[1-4])))?$")


def _add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _parse_single(text: str) -> Period:
    match = _SINGLE.match(text)
    if match is None:
        raise PeriodError(f"period {text!r} is not YYYY, YYYY-Hn, YYYY-Qn or YYYY-MM")
    year = int(match["year"])
    if year < 1900:
        raise PeriodError(f"period {text!r} is before 1900")
    if match["month"]:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"period {text!r} has no month {month}")
        first = date(year, month, 1)
        return Period(first, first)
    if match["half"]:
        first = date(year, 6 * (int(match["half"]) - 1) + 1, 1)
        return Period(first, _add_months(first, 5))
    if match["quarter"]:
        first = date(year, 3 * (int(match["quarter"]) - 1) + 1, 1)
        return Period(first, _add_months(first, 2))
    return Period(date(year, 1, 1), date(year, 12, 1))


def parse_period(text: str) -> Period:
    """`2024`, `2024-H1`, `2024-Q2`, `2024-06`, or an interval such as `2016/2020` or `2016-01/2020-09`."""
    start, slash, end = text.partition("/")
    if not slash:
        return _parse_single(text)
    first, last = _parse_single(start).first, _parse_single(end).last
    if last < first:
        raise PeriodError(f"period {text!r} ends before it starts")
    return Period(first, last)


@dataclass(frozen=True)
class Indicator:
    """One entry of the catalogue: what it counts, how agencies name it, whether plans set targets for it."""

    id: str
    label_vi: str
    label_en: str
    counts: str  # "episodes" (lượt người) or "persons" (người)
    fed_by: str
    targets: bool = True


_MODALITY_LABELS = {
    Modality.COMPULSORY: ("Cai nghiện bắt buộc", "Compulsory residential treatment"),
    Modality.VOLUNTARY_FACILITY: ("Cai nghiện tự nguyện tại cơ sở", "Voluntary treatment in a facility"),
    Modality.VOLUNTARY_COMMUNITY: (
        "Cai nghiện tự nguyện tại gia đình, cộng đồng",
        "Voluntary treatment at home or in the community",
    ),
    Modality.METHADONE: ("Điều trị thay thế (Methadone)", "Opioid substitution therapy (methadone)"),
    Modality.TEMPORARY_STAY: ("Lưu trú tạm thời", "Temporary stay pending a court decision"),
    Modality.STATUS_DETERMINATION: (
        "Theo dõi xác định tình trạng nghiện",
        "Observation to determine addiction",
    ),
}

CATALOGUE: dict[str, Indicator] = {
    i.id: i
    for i in (
        *(
            Indicator(f"admissions.{m}", vi, en, "episodes", f"admitted with modality {m}")
            for m, (vi, en) in _MODALITY_LABELS.items()
        ),
        Indicator(
            "admissions.total",
            "Tổng số lượt tiếp nhận cai nghiện",
            "Admissions, all modalities",
            "episodes",
            "admitted",
        ),
    )
}
