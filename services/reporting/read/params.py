"""What reporting's routes share: the request parameters, the checks that turn them into what the reads take, and
the labels every answer carries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import HTTPException, Query, Request, status
from pydantic import BaseModel

from services.reporting.catalogue import CATALOGUE, Indicator
from services.reporting.domain import Period, PeriodError, parse_period
from services.reporting.read.cache import ReadCache
from shared import units
from shared.api import IsoDay

UnitParam = Annotated[str, Query(description="A ward (5 digits), a province (2 digits) or VN.", max_length=8)]
PeriodParam = Annotated[
    str,
    Query(
        description="YYYY, YYYY-Hn, YYYY-Qn, YYYY-MM, or START/END such as 2016/2020 or 2016-01/2020-09.", max_length=32
    ),
]
FormatParam = Annotated[Literal["json", "csv"], Query(description="Response format.")]
TableFormatParam = Annotated[Literal["json", "csv", "xlsx"], Query(description="Response format.")]
LangParam = Annotated[Literal["en", "vi"], Query(description="Language of CSV column headers and labels.")]
SepParam = Annotated[
    Literal["comma", "semicolon"],
    Query(
        description="Field separator of a CSV answer: comma (,) or semicolon (;), for Excel where the list separator "
        "is ; as on Vietnamese Windows. Every CSV answer is UTF-8 with a BOM; text that would start a formula "
        "(=, +, -, @) is written with a leading '."
    ),
]
AsOfParam = Annotated[
    IsoDay | None,
    Query(description="Figures as they were known on this date (YYYY-MM-DD), by when agencies recorded events."),
]
SuppressParam = Annotated[
    bool, Query(description="Withhold small counts (and the cells that would give them away) for publication.")
]

JSON = "application/json"


class Labels(BaseModel):
    vi: str
    en: str


def checked_unit(unit: str, field: str = "unit") -> str:
    """A unit code the views know, or 400 saying what is wrong with the `field` that gave it (never echoing it)."""
    if units.exists(unit):
        return unit
    if (successor := units.legacy_province(unit)) is not None:
        detail = f"{field} is a province code from before 1 July 2025; it is now part of {successor}"
    elif (ward := units.legacy_ward(unit)) is not None:
        detail = f"{field} is a ward code from before 1 July 2025; it is now part of ward {ward}"
    else:
        detail = f"{field} is not VN, a current province code (2 digits) or a current ward code (5 digits)"
    raise HTTPException(status.HTTP_400_BAD_REQUEST, detail)


def checked_period(text: str) -> Period:
    try:
        return parse_period(text)
    except PeriodError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def checked_indicator(indicator_id: str) -> Indicator:
    indicator = CATALOGUE.get(indicator_id)
    if indicator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no indicator has that indicator_id; see GET /v1/catalogue")
    return indicator


def read_cache(request: Request) -> ReadCache:
    cache: ReadCache = request.app.state.read_cache
    return cache


def threshold(request: Request) -> int:
    value: int = request.app.state.suppression_threshold
    return value
