"""Reporting's indicator routes: every indicator, one, or one by the units within, against targets, as JSON or CSV."""

from __future__ import annotations

import time
from datetime import date
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.catalogue import CATALOGUE, COUNT_LABELS, Counts, Indicator
from services.reporting.domain import Figure, Period, achievement_pct
from services.reporting.read.cache import ReadCache
from services.reporting.read.figures import UnitFigures, unit_figures
from services.reporting.read.params import (
    JSON,
    AsOfParam,
    FormatParam,
    Labels,
    LangParam,
    PeriodParam,
    SepParam,
    SuppressParam,
    TableFormatParam,
    UnitParam,
    checked_indicator,
    checked_period,
    checked_unit,
    read_cache,
    threshold,
)
from services.reporting.read.tables import (
    CSV,
    XLSX,
    as_tables,
    csv_response,
    xlsx_response,
)
from shared import units
from shared.api import Sessions
from shared.auth import CurrentPrincipal, require_unit

router = APIRouter(prefix="/v1", tags=["reporting"])


class IndicatorValue(BaseModel):
    indicator_id: str
    labels: Labels
    counts: str = Field(description="episodes (lượt người), persons (người) or percent")
    count_labels: Labels = Field(description="The unit of the count as agencies write it.")
    unit: str
    unit_name: str | None
    period: str
    as_of: date | None = Field(description="The knowledge date of the figures; null for everything known now.")
    value: int | float | None = Field(description="null when withheld, or a rate with nothing to divide by.")
    suppressed: bool = Field(default=False, description="True when the value is withheld as a small count.")
    target: int | None = Field(description="Plan target for exactly this unit and period, if one was set.")
    target_source_document: str | None = Field(description="The plan that set the target.")
    achievement_pct: float | None = Field(description="value / target x 100, cut to 2 decimals as agencies do.")
    previous_period: str
    previous_value: int | float | None = Field(description="Value over the same-length period just before.")
    change: int | float | None = Field(description="value - previous_value (tăng/giảm so với kỳ trước).")


class IndicatorList(BaseModel):
    unit: str
    unit_name: str | None
    period: str
    as_of: date | None
    indicators: list[IndicatorValue]


def _subtract(a: Figure, b: Figure) -> Figure:
    if a is None or b is None:
        return None
    return round(a - b, 2) if isinstance(a, float) or isinstance(b, float) else a - b


async def indicator_values(
    sessions: async_sessionmaker[AsyncSession],
    cache: ReadCache,
    indicators: list[Indicator],
    unit: str,
    period: Period,
    as_of: date | None,
    suppress_below: int | None,
) -> list[IndicatorValue]:
    """The indicators of one unit and period with targets and the previous period; withheld cells are null. The
    figures of every indicator are read once for all the reads of that unit and period (they cost about what one
    indicator's do), until the views change."""
    compute = partial(unit_figures, sessions, unit, period, as_of, suppress_below)
    found = await cache.computed(("figures", unit, str(period), as_of, suppress_below), compute)
    return [_indicator_value(i, found, unit, period, as_of) for i in indicators]


def _indicator_value(i: Indicator, found: UnitFigures, unit: str, period: Period, as_of: date | None) -> IndicatorValue:
    value = None if i.id in found.hidden else found.current[i.id]
    before = None if i.id in found.hidden_before else found.previous[i.id]
    target = found.targets.get(i.id)
    return IndicatorValue(
        indicator_id=i.id,
        labels=Labels(vi=i.label_vi, en=i.label_en),
        counts=i.counts,
        count_labels=Labels(vi=COUNT_LABELS[i.counts][0], en=COUNT_LABELS[i.counts][1]),
        unit=unit,
        unit_name=units.name(unit),
        period=str(period),
        as_of=as_of,
        value=value,
        suppressed=i.id in found.hidden,
        target=None if target is None else target.value,
        target_source_document=None if target is None else target.source_document,
        achievement_pct=achievement_pct(int(value), target.value)
        if target is not None and isinstance(value, int)
        else None,
        previous_period=str(period.previous()),
        previous_value=before,
        change=_subtract(value, before),
    )


INDICATOR_COLUMNS = (
    "indicator_id",
    "label",
    "unit",
    "period",
    "value",
    "target",
    "achievement_pct",
    "previous_period",
    "previous_value",
    "change",
    "counts",
    "unit_name",
    "as_of",
    "source_document",
)


def _rows(values: list[IndicatorValue], lang: str) -> list[dict[str, Any]]:
    return [
        v.model_dump()
        | {
            "label": v.labels.vi if lang == "vi" else v.labels.en,
            "counts": v.count_labels.vi if lang == "vi" else v.counts,
            "source_document": v.target_source_document,
            "percent": v.counts == Counts.PERCENT,
        }
        for v in values
    ]


def _csv(values: list[IndicatorValue], lang: str, sep: str) -> Response:
    return csv_response(INDICATOR_COLUMNS, _rows(values, lang), lang, sep)


@router.get(
    "/indicators",
    response_model=IndicatorList,
    responses={200: as_tables(CSV, XLSX), 400: {}, 403: {}},
    summary="Every indicator for a unit and a period",
)
async def list_indicators(
    principal: CurrentPrincipal,
    sessions: Sessions,
    request: Request,
    unit: UnitParam,
    period: PeriodParam,
    format: TableFormatParam = "json",
    lang: LangParam = "en",
    sep: SepParam = "comma",
    as_of: AsOfParam = None,
    suppress: SuppressParam = False,
) -> IndicatorList | Response:
    require_unit(principal, checked_unit(unit))
    parsed = checked_period(period)
    cut = threshold(request) if suppress else None
    cache = read_cache(request)
    version, started = cache.version, time.monotonic()
    values = await indicator_values(sessions, cache, list(CATALOGUE.values()), unit, parsed, as_of, cut)
    if format == "csv":
        return _csv(values, lang, sep)
    if format == "xlsx":
        return xlsx_response(INDICATOR_COLUMNS, _rows(values, lang), lang, f"hoinhap-{unit}-{parsed}")
    listed = IndicatorList(unit=unit, unit_name=units.name(unit), period=str(parsed), as_of=as_of, indicators=values)
    body = listed.model_dump_json().encode()
    cache.put(version, started, request, body, unit)
    return Response(body, media_type=JSON)


@router.get(
    "/indicators/{indicator_id}",
    response_model=IndicatorValue,
    responses={200: as_tables(CSV), 400: {}, 403: {}, 404: {}},
    summary="One indicator for a unit and a period",
)
async def get_indicator(
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
) -> IndicatorValue | Response:
    indicator = checked_indicator(indicator_id)
    require_unit(principal, checked_unit(unit))
    parsed = checked_period(period)
    cut = threshold(request) if suppress else None
    cache = read_cache(request)
    version, started = cache.version, time.monotonic()
    [value] = await indicator_values(sessions, cache, [indicator], unit, parsed, as_of, cut)
    if format == "csv":
        return _csv([value], lang, sep)
    body = value.model_dump_json().encode()
    cache.put(version, started, request, body, unit)
    return Response(body, media_type=JSON)
