"""Reporting's breakdown route: one indicator for a unit and each of its provinces or wards, as JSON or CSV."""

from __future__ import annotations

import time
from datetime import date

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting.catalogue import Counts, Indicator
from services.reporting.domain import Figure, Period
from services.reporting.read.figures import figures
from services.reporting.read.params import (
    JSON,
    AsOfParam,
    FormatParam,
    Labels,
    LangParam,
    PeriodParam,
    SepParam,
    SuppressParam,
    UnitParam,
    checked_indicator,
    checked_period,
    checked_unit,
    read_cache,
    threshold,
)
from services.reporting.read.tables import CSV, as_tables, csv_response, withheld_parts
from shared import units
from shared.api import Sessions
from shared.auth import CurrentPrincipal, require_unit

router = APIRouter(prefix="/v1", tags=["reporting"])


class UnitValue(BaseModel):
    unit: str
    unit_name: str | None
    value: int | float | None
    suppressed: bool = False


class Breakdown(BaseModel):
    indicator_id: str
    labels: Labels
    counts: str
    period: str
    as_of: date | None
    total: UnitValue = Field(description="The unit asked for.")
    parts: list[UnitValue] = Field(description="Its provinces (under VN) or wards (under a province).")


@router.get(
    "/indicators/{indicator_id}/units",
    response_model=Breakdown,
    responses={200: as_tables(CSV), 400: {}, 403: {}, 404: {}},
    summary="One indicator for a unit and each of its provinces or wards",
)
async def get_breakdown(
    indicator_id: str,
    principal: CurrentPrincipal,
    sessions: Sessions,
    request: Request,
    unit: UnitParam,
    period: PeriodParam,
    format: FormatParam = "json",
    lang: LangParam = "en",
    sep: SepParam = "comma",
    as_of: AsOfParam = None,
    suppress: SuppressParam = False,
) -> Breakdown | Response:
    indicator = checked_indicator(indicator_id)
    require_unit(principal, checked_unit(unit))
    if units.is_ward(unit):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "unit is a ward: it has no smaller units")
    parsed = checked_period(period)
    children = sorted(units.provinces()) if unit == units.COUNTRY else units.wards_of(unit)
    cache = read_cache(request)
    version, started = cache.version, time.monotonic()
    async with sessions() as s:
        total = (await figures(s, [indicator], [unit], parsed, as_of))[unit][indicator.id]
        parts = {u: v[indicator.id] for u, v in (await figures(s, [indicator], children, parsed, as_of)).items()}
    hidden = _withheld(indicator, unit, total, parts, threshold(request)) if suppress else set()
    table = _breakdown(indicator, parsed, as_of, (unit, total), [(u, parts[u]) for u in children], hidden)
    if format == "csv":
        rows = [
            c.model_dump() | {"indicator_id": indicator.id, "period": str(parsed)} for c in [table.total, *table.parts]
        ]
        return csv_response(("indicator_id", "unit", "unit_name", "period", "value", "suppressed"), rows, lang, sep)
    body = table.model_dump_json().encode()
    cache.put(version, started, request, body, unit)
    return Response(body, media_type=JSON)


def _withheld(indicator: Indicator, unit: str, total: Figure, parts: dict[str, Figure], below: int) -> set[str]:
    """The cells of a breakdown to withhold: of counts only, as a rate gives no count away."""
    if indicator.counts == Counts.PERCENT:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{indicator.id} is a rate; suppression applies to counts")
    return withheld_parts(unit, {u: int(v or 0) for u, v in parts.items()}, int(total or 0), below)


def _breakdown(
    indicator: Indicator,
    period: Period,
    as_of: date | None,
    total: tuple[str, Figure],
    parts: list[tuple[str, Figure]],
    hidden: set[str],
) -> Breakdown:
    def cell(code: str, value: Figure) -> UnitValue:
        return UnitValue(
            unit=code, unit_name=units.name(code), value=None if code in hidden else value, suppressed=code in hidden
        )

    return Breakdown(
        indicator_id=indicator.id,
        labels=Labels(vi=indicator.label_vi, en=indicator.label_en),
        counts=indicator.counts,
        period=str(period),
        as_of=as_of,
        total=cell(*total),
        parts=[cell(*part) for part in parts],
    )
