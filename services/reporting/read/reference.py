"""What a reader chooses from: the indicator catalogue, the units within a unit, and the dashboard page."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from services.reporting.catalogue import CATALOGUE, COUNT_LABELS, MODALITY_LABELS
from services.reporting.read.params import Labels, checked_unit
from shared import units
from shared.auth import CurrentPrincipal, require_unit

#: Tags per route: the catalogue is documented with the reporting routes, the page and its units apart.
router = APIRouter()
PAGE = Path(__file__).with_name("dashboard.html")
SCRIPT = Path(__file__).with_name("dashboard.js")
JAVASCRIPT = "text/javascript; charset=utf-8"


class CatalogueEntry(BaseModel):
    indicator_id: str
    labels: Labels
    counts: str
    count_labels: Labels
    kind: str = Field(description="counter, sum, ratio, persons or first_time")
    parts: list[str] = Field(description="What a sum adds, or a ratio's numerator and denominator.")
    fed_by: str = Field(description="The events and fields that feed it.")
    targets: bool = Field(description="Whether plans set targets for it.")


class Catalogue(BaseModel):
    indicators: list[CatalogueEntry]
    census_modalities: dict[str, Labels]


@router.get("/v1/catalogue", tags=["reporting"], response_model=Catalogue, summary="The indicator catalogue")
async def get_catalogue(principal: CurrentPrincipal) -> Catalogue:
    return Catalogue(
        indicators=[
            CatalogueEntry(
                indicator_id=i.id,
                labels=Labels(vi=i.label_vi, en=i.label_en),
                counts=i.counts,
                count_labels=Labels(vi=COUNT_LABELS[i.counts][0], en=COUNT_LABELS[i.counts][1]),
                kind=i.kind,
                parts=list(i.parts),
                fed_by=i.fed_by,
                targets=i.targets,
            )
            for i in CATALOGUE.values()
        ],
        census_modalities={m: Labels(vi=vi, en=en) for m, (vi, en) in MODALITY_LABELS.items()},
    )


class Unit(BaseModel):
    code: str
    name: str | None


class UnitList(BaseModel):
    within: str | None
    units: list[Unit]


@router.get(
    "/dashboard",
    tags=["dashboard"],
    response_class=HTMLResponse,
    summary="The reporting dashboard (it asks for a token)",
)
async def dashboard() -> HTMLResponse:
    page = PAGE.read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Content-Security-Policy": policy(page), "X-Content-Type-Options": "nosniff"})


@router.get(
    "/dashboard.js",
    tags=["dashboard"],
    response_class=Response,
    responses={200: {"content": {"text/javascript": {"schema": {"type": "string"}}}}},
    summary="The dashboard's script",
)
async def dashboard_script() -> Response:
    script = SCRIPT.read_text(encoding="utf-8")
    return Response(script, media_type=JAVASCRIPT, headers={"X-Content-Type-Options": "nosniff"})


def policy(page: str) -> str:
    """The dashboard's Content-Security-Policy: its own script file and API, and the page's one style block by hash;
    no inline script, no other origin, no framing. Markup that got into the page despite the escaping runs nothing."""
    styles = " ".join(f"'sha256-{_digest(style)}'" for style in re.findall(r"<style>(.*?)</style>", page, re.DOTALL))
    return (
        f"default-src 'none'; script-src 'self'; style-src {styles}; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@router.get(
    "/v1/units",
    tags=["dashboard"],
    response_model=UnitList,
    responses={400: {}, 403: {}},
    summary="Units a reader may choose: its jurisdiction, or the provinces or wards within one unit",
)
async def list_units(
    principal: CurrentPrincipal,
    within: Annotated[str | None, Query(description="VN or a province code; omit for the reader's own units.")] = None,
) -> UnitList:
    if within is None:
        return UnitList(within=None, units=[Unit(code=u, name=units.name(u)) for u in sorted(principal.jurisdiction)])
    require_unit(principal, checked_unit(within, "within"))
    if units.is_ward(within):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "within is a ward: it has no smaller units")
    children = sorted(units.provinces()) if within == units.COUNTRY else units.wards_of(within)
    return UnitList(within=within, units=[Unit(code=u, name=units.name(u)) for u in children])
