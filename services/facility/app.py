"""The facility service's composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.facility import api, db, handlers, registry
from services.facility.domain import FacilityError, FacilityNotFoundError, ResidentNotFoundError
from services.facility.models import access_tokens, audit_log, outbox, parked_events
from shared.api import translate_errors
from shared.parking import Parking
from shared.runtime import build_runtime, create_service_app
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOINHAP_FACILITY_", extra="ignore", frozen=True)

    port: int = Field(default=8002, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(default="facility", description="PostgreSQL schema holding facility's tables.")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(
        settings,
        outbox,
        publishes=["vn.rehab.transferred.v1", "vn.rehab.completed.v1", "vn.rehab.facility_registered.v1"],
    )
    parking = Parking.of(runtime, parked_events, db.apply_events)
    router, pipeline = handlers.build_router(runtime, parking)
    runtime.broker.include_router(router, prefix=settings.topic_prefix)
    app = create_service_app(
        runtime,
        title="Hòa Nhập facility",
        description="Facility registry, residents and census; records transfers and discharges; emits "
        "`facility_registered`, `transferred` and `completed`.",
        migrations=Path(__file__).parent / "migrations",
        routers=[registry.router, api.router],
        access_tokens=access_tokens,
        audit_log=audit_log,
        tasks=[parking.run, pipeline.run],
    )
    translate_errors(app, FacilityError, (FacilityNotFoundError, ResidentNotFoundError))
    app.state.parking = parking
    return app
