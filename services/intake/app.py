"""The intake service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake import api, db, handlers
from services.intake.domain import EpisodeNotFoundError, IntakeError
from services.intake.models import access_tokens, audit_log, outbox, parked_events
from services.intake.settings import MIGRATIONS, Settings
from shared.api import translate_errors
from shared.parking import Parking
from shared.runtime import build_runtime, create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(settings, outbox, publishes=["vn.rehab.admitted.v1", "vn.rehab.completed.v1"])
    parking = Parking.of(runtime, parked_events, db.apply_events)
    router, pipeline = handlers.build_router(runtime, parking)
    runtime.broker.include_router(router, prefix=settings.topic_prefix)
    app = create_service_app(
        runtime,
        title="Hòa Nhập intake",
        description="Registers persons under a pseudonym, admits them into treatment and ends treatment in the "
        "community; emits `admitted` and `completed`.",
        migrations=MIGRATIONS,
        routers=[api.router],
        access_tokens=access_tokens,
        audit_log=audit_log,
        tasks=[parking.run, pipeline.run],
    )
    translate_errors(app, IntakeError, (EpisodeNotFoundError,))
    app.state.subject_key = settings.subject_key.get_secret_value().encode()
    return app
