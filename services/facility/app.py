"""The facility service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.facility import api, domain, handlers
from services.facility.domain import FacilityError, FacilityNotFoundError, ResidentNotFoundError
from services.facility.models import access_tokens, audit_log, outbox, parked_events
from services.facility.settings import MIGRATIONS, Settings
from shared.app import create_service_app
from shared.parking import Parking
from shared.runtime import build_runtime
from shared.units import unknown_ward


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(
        settings,
        outbox,
        audit_log,
        publishes=["vn.rehab.transferred.v1", "vn.rehab.completed.v1", "vn.rehab.facility_registered.v1"],
    )
    parking = Parking.of(runtime, parked_events, handlers.on_events, domain.EXPIRIES)
    runtime.subscribe(handlers.TOPICS, parking.apply, check=unknown_ward)
    runtime.tasks.append(parking.run)
    app = create_service_app(
        runtime,
        title="Hòa Nhập facility",
        description="Facility registry, residents and census; records transfers and discharges; emits "
        "`facility_registered`, `transferred` and `completed`.",
        migrations=MIGRATIONS,
        routers=[api.router],
        access_tokens=access_tokens,
        errors=FacilityError,
        not_found=(FacilityNotFoundError, ResidentNotFoundError),
    )
    app.state.parking = parking  # a registration releases the admissions waiting for it (api.Waiting)
    return app
