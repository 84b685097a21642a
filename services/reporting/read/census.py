"""Reporting's episode routes: residents on a date (census) and discharges with length of stay."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.reporting.catalogue import CENSUS_LABELS, OUTCOME_LABELS
from services.reporting.domain import percentage
from services.reporting.read import queries
from services.reporting.read.params import (
    AsOfParam,
    FormatParam,
    Labels,
    LangParam,
    PeriodParam,
    SepParam,
    SuppressParam,
    checked_period,
    checked_unit,
    threshold,
)
from services.reporting.read.tables import CSV, as_tables, csv_response, withheld_parts
from shared import units
from shared.api import IsoDay, Sessions
from shared.auth import CurrentPrincipal, Principal, require_unit
from shared.events import ID_PATTERN, Modality, Outcome

router = APIRouter(prefix="/v1", tags=["reporting"])
TOTAL = "total"


class CensusCell(BaseModel):
    modality: str
    labels: Labels
    residents: int | None = Field(description="null when withheld as a small count")
    suppressed: bool = False


class Census(BaseModel):
    unit: str | None = Field(description="The managing unit counted, when asked by unit.")
    unit_name: str | None
    facility_id: str | None = Field(description="The facility counted, when asked by facility (after transfers).")
    on: date
    as_of: date | None
    total: int | None
    modalities: list[CensusCell]


def _scope(principal: Principal) -> list[str] | None:
    """Units whose residents a principal may count in a facility: all (None) for a national reader."""
    return None if units.COUNTRY in principal.jurisdiction else sorted(principal.jurisdiction)


@router.get(
    "/census",
    response_model=Census,
    responses={200: as_tables(CSV), 400: {}, 403: {}},
    summary="Residents by modality on a date: of a unit (by managing unit) or of a facility (after transfers)",
)
async def get_census(
    principal: CurrentPrincipal,
    sessions: Sessions,
    request: Request,
    on: Annotated[IsoDay, Query(description="The date (YYYY-MM-DD): admitted on or before it and not ended by it.")],
    unit: Annotated[str | None, Query(description="A ward, a province or VN.", max_length=8)] = None,
    facility: Annotated[
        str | None,
        Query(description="A facility id, instead of a unit.", pattern=ID_PATTERN),
    ] = None,
    format: FormatParam = "json",
    lang: LangParam = "en",
    sep: SepParam = "comma",
    as_of: AsOfParam = None,
    suppress: SuppressParam = False,
) -> Census | Response:
    if (unit is None) == (facility is None):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "give either unit or facility")
    async with sessions() as s:
        if unit is not None:
            require_unit(principal, checked_unit(unit))
            counts = await queries.get_census(s, unit, on, as_of)
        else:
            counts = await queries.get_facility_census(s, str(facility), on, as_of, _scope(principal))
    by_modality = {str(m): counts.get(m, 0) for m in Modality}
    total = sum(by_modality.values())
    hidden = withheld_parts(TOTAL, by_modality, total, threshold(request)) if suppress else set()
    census = Census(
        unit=unit,
        unit_name=None if unit is None else units.name(unit),
        facility_id=facility,
        on=on,
        as_of=as_of,
        total=None if TOTAL in hidden else total,
        modalities=[_census_cell(m, n, m in hidden) for m, n in by_modality.items()],
    )
    return _census_csv(census, lang, sep) if format == "csv" else census


def _census_cell(modality: str, residents: int, hidden: bool) -> CensusCell:
    vi, en = CENSUS_LABELS[Modality(modality)]
    return CensusCell(
        modality=modality, labels=Labels(vi=vi, en=en), residents=None if hidden else residents, suppressed=hidden
    )


def _census_csv(census: Census, lang: str, sep: str) -> Response:
    place: dict[str, object] = {
        "unit": census.unit,
        "facility_id": census.facility_id,
        "on": census.on,
        "as_of": census.as_of,
    }
    rows = [
        place | {"modality": c.labels.vi if lang == "vi" else c.modality, "residents": c.residents}
        for c in census.modalities
    ]
    rows.append(place | {"modality": "Tổng số" if lang == "vi" else TOTAL, "residents": census.total})
    return csv_response(("unit", "facility_id", "on", "as_of", "modality", "residents"), rows, lang, sep)


class DischargeCell(BaseModel):
    modality: str
    outcome: str
    outcome_labels: Labels
    discharges: int
    median_days: float | None = Field(description="Median length of stay, admitted_on to completed_on, in days.")


class CompletionRate(BaseModel):
    modality: str
    discharges: int
    completions: int
    completion_rate_pct: float | None = Field(description="completions / all discharges x 100")
    median_days_completed: float | None


class Discharges(BaseModel):
    unit: str
    period: str
    as_of: date | None
    rows: list[DischargeCell]
    by_modality: list[CompletionRate]


@router.get(
    "/discharges",
    response_model=Discharges,
    responses={200: as_tables(CSV), 400: {}, 403: {}},
    summary="Discharges by modality and outcome, completion rates and median length of stay",
)
async def get_discharges(
    principal: CurrentPrincipal,
    sessions: Sessions,
    unit: Annotated[str, Query(description="A ward, a province or VN.", max_length=8)],
    period: PeriodParam,
    format: FormatParam = "json",
    lang: LangParam = "en",
    sep: SepParam = "comma",
    as_of: AsOfParam = None,
) -> Discharges | Response:
    require_unit(principal, checked_unit(unit))
    parsed = checked_period(period)
    async with sessions() as s:
        found = await queries.get_discharges(s, unit, parsed, as_of)
    rows = [_discharge_cell(r) for r in found]
    if format == "csv":
        table = [r.model_dump() | {"unit": unit, "period": str(parsed), "as_of": as_of} for r in rows]
        columns = ("unit", "period", "as_of", "modality", "outcome", "discharges", "median_days")
        return csv_response(columns, table, lang, sep)
    rates = [_completion_rate(m, [r for r in found if r.modality == m]) for m in Modality]
    return Discharges(unit=unit, period=str(parsed), as_of=as_of, rows=rows, by_modality=rates)


def _discharge_cell(row: queries.DischargeRow) -> DischargeCell:
    vi, en = OUTCOME_LABELS[Outcome(row.outcome)]
    return DischargeCell(
        modality=row.modality,
        outcome=row.outcome,
        outcome_labels=Labels(vi=vi, en=en),
        discharges=row.discharges,
        median_days=row.median_days,
    )


def _completion_rate(modality: Modality, rows: list[queries.DischargeRow]) -> CompletionRate:
    """One modality's discharges, how many completed treatment, and their median length of stay."""
    done = next((r for r in rows if r.outcome == Outcome.COMPLETED), None)
    discharges = sum(r.discharges for r in rows)
    completions = done.discharges if done else 0
    return CompletionRate(
        modality=modality,
        discharges=discharges,
        completions=completions,
        completion_rate_pct=percentage(completions, discharges),
        median_days_completed=done.median_days if done else None,
    )
