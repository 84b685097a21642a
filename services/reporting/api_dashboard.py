"""The reporting dashboard: the page itself, and the units a reader may choose from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from services.reporting.api import checked_unit
from shared import units
from shared.auth import CurrentPrincipal, require_unit

router = APIRouter(tags=["dashboard"])
PAGE = Path(__file__).with_name("dashboard.html")


class Unit(BaseModel):
    code: str
    name: str | None


class UnitList(BaseModel):
    within: str | None
    units: list[Unit]


@router.get("/dashboard", response_class=HTMLResponse, summary="The reporting dashboard (it asks for a token)")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.get(
    "/v1/units",
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
