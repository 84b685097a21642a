"""The facility service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.facility import api, db, handlers, registry
from services.facility.domain import FacilityError, FacilityNotFoundError, ResidentNotFoundError
from services.facility.models import access_tokens, audit_log, outbox, parked_events
from services.facility.settings import MIGRATIONS, Settings
from shared.api import translate_errors
from shared.parking import Parking
from shared.runtime import build_runtime, create_service_app


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
        migrations=MIGRATIONS,
        routers=[registry.router, api.router],
        access_tokens=access_tokens,
        audit_log=audit_log,
        tasks=[parking.run, pipeline.run],
    )
    translate_errors(app, FacilityError, (FacilityNotFoundError, ResidentNotFoundError))
    app.state.parking = parking
    return app
