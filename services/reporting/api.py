"""Reporting's read API: indicators for a unit and a period, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import queries
from services.reporting.domain import CATALOGUE, Indicator, Period, PeriodError, parse_period
from shared import units
from shared.auth import CurrentPrincipal, require_unit
from shared.runtime import session

router = APIRouter(prefix="/v1", tags=["reporting"])
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(session)]
UnitParam = Annotated[str, Query(description="A ward (5 digits), a province (2 digits) or VN.", max_length=8)]
PeriodParam = Annotated[
    str, Query(description="YYYY, YYYY-Hn, YYYY-Qn, YYYY-MM, or START/END such as 2016/2020.", max_length=32)
]
FormatParam = Annotated[Literal["json", "csv"], Query(description="Response format.")]


class Labels(BaseModel):
    vi: str
    en: str


class IndicatorValue(BaseModel):
    indicator_id: str
    labels: Labels
    counts: str = Field(description="episodes (lượt người) or persons (người)")
    unit: str
    period: str
    value: int
    target: int | None = Field(description="Plan target for this unit and period, if one was set.")
    achievement_pct: float | None = Field(description="value / target x 100, rounded to 2 decimals.")
    previous_period: str
    previous_value: int = Field(description="Value over the same-length period just before.")


class IndicatorList(BaseModel):
    unit: str
    period: str
    indicators: list[IndicatorValue]


def _unit(unit: str) -> str:
    if units.exists(unit):
        return unit
    raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unit {unit!r} is not VN, a province code or a ward code")


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except PeriodError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


async def _values(sessions: Sessions, indicators: list[Indicator], unit: str, period: Period) -> list[IndicatorValue]:
    ids = [i.id for i in indicators]
    async with sessions() as s:
        current = await queries.get_totals(s, ids, unit, period)
        previous = await queries.get_totals(s, ids, unit, period.previous())
    return [
        IndicatorValue(
            indicator_id=i.id,
            labels=Labels(vi=i.label_vi, en=i.label_en),
            counts=i.counts,
            unit=unit,
            period=str(period),
            value=current[i.id],
            target=None,
            achievement_pct=None,
            previous_period=str(period.previous()),
            previous_value=previous[i.id],
        )
        for i in indicators
    ]


def _csv(values: list[IndicatorValue]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = [
        "indicator_id",
        "label",
        "unit",
        "period",
        "value",
        "target",
        "achievement_pct",
        "previous_value",
    ]
    writer.writerow(columns)
    for v in values:
        writer.writerow(
            [
                v.indicator_id,
                v.labels.en,
                v.unit,
                v.period,
                v.value,
                v.target,
                v.achievement_pct,
                v.previous_value,
            ]
        )
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get(
    "/indicators",
    response_model=IndicatorList,
    responses={400: {}, 403: {}},
    summary="Every indicator for a unit and a period",
)
async def list_indicators(
    principal: CurrentPrincipal,
    sessions: Sessions,
    unit: UnitParam,
    period: PeriodParam,
    format: FormatParam = "json",
) -> IndicatorList | Response:
    require_unit(principal, _unit(unit))
    parsed = _period(period)
    values = await _values(sessions, list(CATALOGUE.values()), unit, parsed)
    return _csv(values) if format == "csv" else IndicatorList(unit=unit, period=str(parsed), indicators=values)


@router.get(
    "/indicators/{indicator_id}",
    response_model=IndicatorValue,
    responses={400: {}, 403: {}, 404: {}},
    summary="One indicator for a unit and a period",
)
async def get_indicator(
    indicator_id: str,
    principal: CurrentPrincipal,
    sessions: Sessions,
    unit: UnitParam,
    period: PeriodParam,
    format: FormatParam = "json",
) -> IndicatorValue | Response:
    indicator = CATALOGUE.get(indicator_id)
    if indicator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no indicator {indicator_id!r}; GET /v1/indicators lists them")
    require_unit(principal, _unit(unit))
    [value] = await _values(sessions, [indicator], unit, _period(period))
    return _csv([value]) if format == "csv" else value
