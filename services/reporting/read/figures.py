"""The catalogue's figures for units and a period: counters read, sums and ratios worked out, persons counted; and
what a read of one unit and period shows (the period before, the targets, the cells withheld)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.catalogue import CATALOGUE, Indicator, Kind
from services.reporting.domain import Figure, Period, percentage
from services.reporting.read import queries
from services.reporting.read.tables import withheld_indicators


def _needed_counters(indicators: Sequence[Indicator]) -> set[str]:
    needed: set[str] = set()
    for i in indicators:
        if i.kind == Kind.COUNTER:
            needed.add(i.id)
        elif i.kind in (Kind.SUM, Kind.RATIO):
            needed |= _needed_counters([CATALOGUE[p] for p in i.parts])
    return needed


def _evaluate(indicator: Indicator, counts: dict[str, int], persons: dict[str, int]) -> Figure:
    match indicator.kind:
        case Kind.COUNTER:
            return counts.get(indicator.id, 0)
        case Kind.SUM:
            return sum(int(_evaluate(CATALOGUE[p], counts, persons) or 0) for p in indicator.parts)
        case Kind.RATIO:
            numerator, denominator = (_evaluate(CATALOGUE[p], counts, persons) for p in indicator.parts)
            return percentage(int(numerator or 0), int(denominator or 0))
        case _:
            return persons.get(indicator.kind, 0)


async def figures(
    session: AsyncSession,
    indicators: Sequence[Indicator],
    unit_list: Sequence[str],
    period: Period,
    as_of: date | None,
) -> dict[str, dict[str, Figure]]:
    """unit -> indicator id -> value (None for a ratio with nothing to divide by), for units of one level."""
    counters = await queries.get_counters(session, _needed_counters(indicators), unit_list, period, as_of)
    kinds = {i.kind for i in indicators}
    persons = await queries.get_persons(session, unit_list, period, as_of) if Kind.PERSONS in kinds else {}
    firsts = await queries.get_first_time(session, unit_list, period, as_of) if Kind.FIRST_TIME in kinds else {}
    result: dict[str, dict[str, Figure]] = {}
    for unit in unit_list:
        distinct = {Kind.PERSONS.value: persons.get(unit, 0), Kind.FIRST_TIME.value: firsts.get(unit, 0)}
        result[unit] = {i.id: _evaluate(i, counters.get(unit, {}), distinct) for i in indicators}
    return result


@dataclass(frozen=True)
class UnitFigures:
    """Every indicator of one unit and period, the period before, the targets, and the cells withheld."""

    current: dict[str, Figure]
    previous: dict[str, Figure]
    targets: dict[str, queries.Target]
    hidden: set[str]
    hidden_before: set[str]


async def unit_figures(
    sessions: async_sessionmaker[AsyncSession],
    unit: str,
    period: Period,
    as_of: date | None,
    suppress_below: int | None,
) -> UnitFigures:
    """Every indicator of `unit` over `period` and the period before, with targets; with `suppress_below`, the cells
    to withhold."""
    everything = list(CATALOGUE.values())
    async with sessions() as s:
        current = (await figures(s, everything, [unit], period, as_of))[unit]
        previous = (await figures(s, everything, [unit], period.previous(), as_of))[unit]
        targets = await queries.get_targets(s, list(CATALOGUE), unit, str(period), as_of)
    return UnitFigures(
        current,
        previous,
        targets,
        withheld_indicators(current, suppress_below) if suppress_below else set(),
        withheld_indicators(previous, suppress_below) if suppress_below else set(),
    )
