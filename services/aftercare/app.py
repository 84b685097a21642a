"""The aftercare service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.aftercare import api, db, handlers
from services.aftercare.domain import AftercareError, CaseNotFoundError
from services.aftercare.models import access_tokens, audit_log, outbox, parked_events
from services.aftercare.settings import MIGRATIONS, Settings
from shared.api import translate_errors
from shared.parking import Parking
from shared.runtime import build_runtime, create_service_app


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
        migrations=MIGRATIONS,
        routers=[api.router],
        access_tokens=access_tokens,
        audit_log=audit_log,
        tasks=[parking.run, pipeline.run],
    )
    translate_errors(app, AftercareError, (CaseNotFoundError,))
    return app
