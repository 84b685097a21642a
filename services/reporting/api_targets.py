"""Reporting's plan targets (the one write) and the indicator catalogue."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from services.reporting import queries
from services.reporting.api import Labels, Sessions, checked_indicator, checked_period, checked_unit
from services.reporting.cache import views_changed
from services.reporting.catalogue import CATALOGUE, COUNT_LABELS, MODALITY_LABELS
from shared.api import Text
from shared.audit import audit
from shared.auth import CurrentPrincipal, require_unit

router = APIRouter(prefix="/v1", tags=["reporting"])


class TargetIn(BaseModel):
    indicator_id: str = Field(max_length=80, description="An indicator of the catalogue that takes targets.")
    unit: str = Field(max_length=8, description="A ward, a province or VN.")
    period: str = Field(max_length=32, description="The plan period, e.g. 2016/2020 or 2024-H1.")
    value: int = Field(ge=0, le=10**9, description="The target count.")
    source_document: Text = Field(
        min_length=1, max_length=300, description='The plan that sets it, e.g. "Kế hoạch số 1009/KH-UBND".'
    )


class TargetOut(TargetIn):
    set_at: datetime


@router.put(
    "/targets",
    response_model=TargetOut,
    responses={400: {}, 403: {}, 404: {}},
    summary="Set a plan target for an indicator, a unit and a period (a new version; earlier ones stay for as_of)",
)
async def put_target(body: TargetIn, principal: CurrentPrincipal, sessions: Sessions, request: Request) -> TargetOut:
    indicator = checked_indicator(body.indicator_id)
    if not indicator.targets:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{indicator.id} is not planned: targets do not apply to it")
    require_unit(principal, checked_unit(body.unit))
    period = str(checked_period(body.period))
    stored = body.model_copy(update={"period": period})
    async with sessions.begin() as s:
        set_at = await queries.put_target(s, stored.model_dump() | {"agency": principal.agency})
        await audit(
            s, request.app.state.access.audit_log, principal, "set_target", f"{indicator.id} {body.unit} {period}"
        )
        await views_changed(s, request.app.state.runtime.settings.db_schema)
    request.app.state.read_cache.changed()
    return TargetOut(**stored.model_dump(), set_at=set_at)


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


@router.get("/catalogue", response_model=Catalogue, summary="The indicator catalogue")
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
