"""Reading the views: every figure of a unit and period comes from the materialised tables, never raw events.

`as_of` (a date, or None for everything known now) limits a read to the cells recorded on or before that date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import VIETNAM, Period
from services.reporting.models import column_of
from shared import units
from shared.events import Modality

Values = dict[str, dict[str, int]]  # unit -> indicator id -> value


def level(unit: str) -> str:
    """The `episodes` column that places an episode in units of this kind (or none for VN)."""
    if unit == units.COUNTRY:
        return "country"
    return "ward" if units.is_ward(unit) else "province"


def wards_in(unit_list: Sequence[str]) -> list[str]:
    """The wards that wards and provinces cover: `episodes` is found by ward, its index (the episode's province is
    a column to group by, not an index every admission would have to write)."""
    return sorted({w for u in unit_list for w in ([u] if units.is_ward(u) else units.wards_of(u))})


async def get_counters(
    session: AsyncSession, ids: Collection[str], unit_list: Sequence[str], period: Period, as_of: date | None
) -> Values:
    """Each counter's total per unit over a period (0 where no event counted); a unit without any is missing."""
    counters = sorted(ids)  # one statement text per set of counters
    sums = ", ".join(f"sum({column_of(c)})" for c in counters)
    known = "" if as_of is None else "AND known_on <= :as_of"
    rows = await session.execute(
        text(
            f"SELECT unit, {sums} FROM daily_totals "  # noqa: S608 - catalogue columns and a fixed condition
            f"WHERE unit = ANY(:units) AND day BETWEEN :first AND :end {known} GROUP BY unit"
        ),
        {"units": list(unit_list), "first": period.first, "end": period.end, "as_of": as_of},
    )
    found: Values = defaultdict(dict)
    for unit, *totals in rows.all():
        found[unit] = {c: int(total) for c, total in zip(counters, totals, strict=True)}
    return found


async def get_persons(
    session: AsyncSession, unit_list: Sequence[str], period: Period, as_of: date | None
) -> dict[str, int]:
    """Distinct subjects admitted in the period, per unit, from the episodes (no table of its own to write)."""
    found: dict[str, int] = {}
    for column in sorted({level(u) for u in unit_list}):
        units_here = [u for u in unit_list if level(u) == column]
        found |= await _persons(session, column, units_here, period, as_of)
    return found


async def _persons(
    session: AsyncSession, column: str, unit_list: list[str], period: Period, as_of: date | None
) -> dict[str, int]:
    known = "" if as_of is None else "AND admitted_known <= :as_of"
    unit, where = ("'VN'", "") if column == "country" else (column, "AND ward = ANY(:wards)")
    rows = await session.execute(  # DISTINCT in a subquery is hashed; count(DISTINCT) always sorts
        text(
            f"SELECT unit, count(*) FROM (SELECT DISTINCT {unit} AS unit, subject FROM episodes "  # noqa: S608
            f"WHERE admitted_on BETWEEN :first AND :end {where} {known}) AS admitted GROUP BY unit"
        ),
        {"wards": wards_in(unit_list), "first": period.first, "end": period.end, "as_of": as_of},
    )
    return {unit: int(n) for unit, n in rows.all()}


async def get_first_time(
    session: AsyncSession, unit_list: Sequence[str], period: Period, as_of: date | None
) -> dict[str, int]:
    """Distinct subjects whose first admission ever (as known on `as_of`) lies in the period, per unit of it: the
    admissions in the period with none of the same subject before them (one index probe each)."""
    found: dict[str, int] = defaultdict(int)
    for column in sorted({level(u) for u in unit_list}):
        units_here = [u for u in unit_list if level(u) == column]
        for ward, province, n in await _first_admissions(session, column, units_here, period, as_of):
            found[{"ward": ward, "province": province, "country": units.COUNTRY}[column]] += int(n)
    return {unit: found.get(unit, 0) for unit in unit_list}


async def _first_admissions(
    session: AsyncSession, column: str, unit_list: list[str], period: Period, as_of: date | None
) -> Sequence[Any]:
    known = "" if as_of is None else "AND {0}.admitted_known <= :as_of"
    where = "" if column == "country" else "AND e.ward = ANY(:wards)"
    rows = await session.execute(
        text(
            f"""
            SELECT e.ward, e.province, count(*) FROM episodes e
            WHERE e.admitted_on BETWEEN :first AND :end {where} {known.format("e")}
              AND NOT EXISTS (
                  SELECT 1 FROM episodes p
                  WHERE p.subject = e.subject AND p.admitted_on <= e.admitted_on {known.format("p")}
                    AND (p.admitted_on, p.episode_id) < (e.admitted_on, e.episode_id))
            GROUP BY e.ward, e.province
            """  # noqa: S608 - only fixed columns and conditions are interpolated
        ),
        {"wards": wards_in(unit_list), "first": period.first, "end": period.end, "as_of": as_of},
    )
    return rows.all()


_RESIDENTS = {str(m): column_of(f"residents.{m}") for m in Modality}


async def get_census(session: AsyncSession, unit: str, on: date, as_of: date | None) -> dict[str, int]:
    """Residents by modality on a date in a unit: admitted on or before it and not ended by it."""
    known = "" if as_of is None else "AND known_on <= :as_of"
    sums = ", ".join(f"COALESCE(sum({column}), 0)" for column in _RESIDENTS.values())
    row = (
        await session.execute(
            text(f"SELECT {sums} FROM daily_totals WHERE unit = :unit AND day <= :on {known}"),  # noqa: S608
            {"unit": unit, "on": on, "as_of": as_of},
        )
    ).one()
    return {modality: int(n) for modality, n in zip(_RESIDENTS, row, strict=True)}


_FACILITY_CENSUS = """
    WITH stays AS (
        SELECT e.modality, COALESCE(
            (SELECT t.to_facility_id FROM transfers t
             WHERE t.episode_id = e.episode_id AND t.transferred_on <= :on {transfer_known}
             ORDER BY t.transferred_on DESC, t.known_on DESC, t.event_id DESC LIMIT 1),
            e.facility_id) AS facility
        FROM episodes e
        WHERE e.admitted_on <= :on {admitted_known}
          AND (e.completed_on IS NULL OR e.completed_on > :on {completed_known})
          AND (e.facility_id = :facility
               OR e.episode_id IN (SELECT episode_id FROM transfers WHERE to_facility_id = :facility))
          {scope}
    )
    SELECT modality, count(*) FROM stays WHERE facility = :facility GROUP BY modality
"""


async def get_facility_census(
    session: AsyncSession, facility_id: str, on: date, as_of: date | None, scope: Sequence[str] | None = None
) -> dict[str, int]:
    """Residents by modality of one facility on a date, following transfers; with `scope`, only those whose
    managing unit lies in one of those units (a reader sees the residents of its own jurisdiction)."""
    statement = _FACILITY_CENSUS.format(
        scope="" if scope is None else "AND (e.province = ANY(:scope) OR e.ward = ANY(:scope))",
        transfer_known="" if as_of is None else "AND t.known_on <= :as_of",
        admitted_known="" if as_of is None else "AND e.admitted_known <= :as_of",
        completed_known="" if as_of is None else "OR e.completed_known > :as_of",
    )
    parameters = {"facility": facility_id, "on": on, "as_of": as_of, "scope": None if scope is None else list(scope)}
    rows = await session.execute(text(statement), parameters)
    return {modality: int(n) for modality, n in rows.all()}


@dataclass(frozen=True)
class DischargeRow:
    modality: str
    outcome: str
    discharges: int
    median_days: float | None


async def get_discharges(session: AsyncSession, unit: str, period: Period, as_of: date | None) -> list[DischargeRow]:
    """Episodes that ended in the period, by modality and outcome, with the median length of stay in days."""
    where = "" if unit == units.COUNTRY else "AND ward = ANY(:wards)"
    known = "" if as_of is None else "AND admitted_known <= :as_of AND completed_known <= :as_of"
    rows = await session.execute(
        text(
            f"""
            SELECT modality, outcome, count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY completed_on - admitted_on)
            FROM episodes
            WHERE completed_on BETWEEN :first AND :end AND admitted_on IS NOT NULL {where} {known}
            GROUP BY modality, outcome ORDER BY modality, outcome
            """  # noqa: S608
        ),
        {"wards": wards_in([unit]), "first": period.first, "end": period.end, "as_of": as_of},
    )
    return [DischargeRow(m, o, int(n), None if median is None else float(median)) for m, o, n, median in rows.all()]


@dataclass(frozen=True)
class Target:
    value: int
    source_document: str
    set_at: datetime


async def get_targets(
    session: AsyncSession, ids: Collection[str], unit: str, period: str, as_of: date | None
) -> dict[str, Target]:
    """The newest target of each indicator for exactly this unit and period, as set on or before `as_of`."""
    known = "" if as_of is None else "AND set_at < :until"
    until = None if as_of is None else datetime.combine(as_of + timedelta(days=1), datetime.min.time(), VIETNAM)
    rows = await session.execute(
        text(
            "SELECT DISTINCT ON (indicator_id) indicator_id, value, source_document, set_at FROM targets "  # noqa: S608
            f"WHERE indicator_id = ANY(:ids) AND unit = :unit AND period = :period {known} "
            "ORDER BY indicator_id, set_at DESC"
        ),
        {"ids": list(ids), "unit": unit, "period": period, "until": until},
    )
    return {i: Target(int(v), s, at) for i, v, s, at in rows.all()}
