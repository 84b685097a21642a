"""Reporting's one HTTP write: a plan target for an indicator, a unit and a period."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from services.reporting import usecases
from services.reporting.read.params import checked_indicator, checked_period, checked_unit
from shared.api import Text, Writes
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
async def put_target(body: TargetIn, principal: CurrentPrincipal, work: Writes, request: Request) -> TargetOut:
    indicator = checked_indicator(body.indicator_id)
    if not indicator.targets:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{indicator.id} is not planned: targets do not apply to it")
    require_unit(principal, checked_unit(body.unit))
    stored = body.model_copy(update={"period": str(checked_period(body.period))})
    target = usecases.PlanTarget(**stored.model_dump())
    async with work() as uow:
        set_at = await usecases.set_target(uow, principal, target, schema=request.app.state.runtime.settings.db_schema)
    request.app.state.read_cache.changed()
    return TargetOut(**stored.model_dump(), set_at=set_at)
