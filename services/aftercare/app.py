"""The aftercare service's composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.aftercare import api, db, handlers
from services.aftercare.domain import AftercareError, CaseNotFoundError
from services.aftercare.models import access_tokens, audit_log, outbox, parked_events
from shared.api import translate_errors
from shared.parking import Parking
from shared.runtime import build_runtime, create_service_app
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOINHAP_AFTERCARE_", extra="ignore", frozen=True)

    port: int = Field(default=8003, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(default="aftercare", description="PostgreSQL schema holding aftercare's tables.")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(
        settings, outbox, publishes=["vn.rehab.relapsed.v1", "vn.rehab.employed.v1", "vn.rehab.aftercare_opened.v1"]
    )
    parking = Parking.of(runtime, parked_events, db.apply_events)
    router, pipeline = handlers.build_router(runtime, parking)
    runtime.broker.include_router(router, prefix=settings.topic_prefix)
    app = create_service_app(
        runtime,
        title="Hòa Nhập aftercare",
        description="Post-treatment management at the place of residence; records relapses and employment support; "
        "emits `aftercare_opened`, `relapsed` and `employed`.",
        migrations=Path(__file__).parent / "migrations",
        routers=[api.router],
        access_tokens=access_tokens,
        audit_log=audit_log,
        tasks=[parking.run, pipeline.run],
    )
    translate_errors(app, AftercareError, (CaseNotFoundError,))
    return app
