"""Reporting's rules: reporting periods, achievement against a target, and small-cell suppression."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal

#: Vietnam's clock (UTC+7, no daylight saving): an event's `time` becomes the date agencies knew it on.
VIETNAM = timezone(timedelta(hours=7))

#: An indicator's value for a unit and period: a count, a rate, or None (withheld, or a rate of nothing).
Figure = int | float | None


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

    @property
    def end(self) -> date:
        """The last day of the period."""
        return add_months(self.last, 1) - timedelta(days=1)

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(add_months(self.first, -self.months), add_months(self.first, -1))

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


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _parse_single(text: str) -> Period:
    match = _SINGLE.match(text)
    if match is None:
        raise PeriodError("period is not YYYY, YYYY-Hn, YYYY-Qn or YYYY-MM")
    year = int(match["year"])
    if year < 1900:
        raise PeriodError("period is before 1900")
    if match["month"]:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError("period names a month that does not exist")
        first = date(year, month, 1)
        return Period(first, first)
    if match["half"]:
        first = date(year, 6 * (int(match["half"]) - 1) + 1, 1)
        return Period(first, add_months(first, 5))
    if match["quarter"]:
        first = date(year, 3 * (int(match["quarter"]) - 1) + 1, 1)
        return Period(first, add_months(first, 2))
    return Period(date(year, 1, 1), date(year, 12, 1))


def parse_period(text: str) -> Period:
    """`2024`, `2024-H1`, `2024-Q2`, `2024-06`, or an interval such as `2016/2020` or `2016-01/2020-09`."""
    start, slash, end = text.partition("/")
    if not slash:
        return _parse_single(text)
    first, last = _parse_single(start).first, _parse_single(end).last
    if last < first:
        raise PeriodError("period ends before it starts")
    return Period(first, last)


def known_on(time: datetime) -> date:
    """The date in Vietnam on which an event was recorded: what `as_of` compares with."""
    return time.astimezone(VIETNAM).date()


def today() -> date:
    return known_on(datetime.now(UTC))


def achievement_pct(value: int, target: int | None) -> float | None:
    """value / target x 100 to two decimals, cut rather than rounded as the provinces write it: Đồng Nai's
    1.163/750 is "155,06%" and 825/700 "117,85%" (rounding would give 155,07 and 117,86)."""
    if not target:
        return None
    return float((Decimal(value) * 100 / Decimal(target)).quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def percentage(numerator: int, denominator: int) -> float | None:
    """A rate in percent to two decimals (half up), or None when there is nothing to divide by."""
    if denominator == 0:
        return None
    return float((Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01")))


def median(values: Sequence[float]) -> float | None:
    """The middle value, or the mean of the two middle values; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# --- Small-cell suppression ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Cells whose published total lets a reader recover any one of them from the others."""

    total: str
    parts: tuple[str, ...]


def suppress(cells: Mapping[str, int], groups: Sequence[Group], threshold: int) -> set[str]:
    """The cells to withhold: every count from 1 to threshold-1 (primary), then, in each group, further cells
    (complementary, smallest first) until no withheld cell can be worked out from the total and the rest:
    at least two cells withheld in a group that has any, together at least `threshold`, or the total withheld.
    Repeats until no group changes, since a cell withheld in one group may expose another."""
    hidden = {name for name, value in cells.items() if 0 < value < threshold}
    changed = True
    while changed:
        changed = False
        for group in groups:
            added = _complement(cells, group, hidden, threshold)
            if added:
                hidden |= added
                changed = True
    return hidden


def _complement(cells: Mapping[str, int], group: Group, hidden: set[str], threshold: int) -> set[str]:
    parts = [p for p in group.parts if p in cells]
    withheld = [p for p in parts if p in hidden]
    if not withheld or group.total in hidden or group.total not in cells:
        return set()
    if len(withheld) >= 2 and sum(cells[p] for p in withheld) >= threshold:
        return set()
    shown = sorted((p for p in parts if p not in hidden), key=lambda p: (cells[p] == 0, cells[p], p))
    added: set[str] = set()
    count, total = len(withheld), sum(cells[p] for p in withheld)
    for candidate in shown:
        if count >= 2 and total >= threshold:
            break
        added.add(candidate)
        count, total = count + 1, total + cells[candidate]
    if count < 2 or total < threshold:  # even every part withheld would give the total away: withhold it too
        added.add(group.total)
    return added
