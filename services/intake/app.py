"""The intake service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake import api, handlers
from services.intake.domain import EpisodeNotFoundError, IntakeError, PersonNotRegisteredError
from services.intake.models import access_tokens, audit_log, outbox, parked_events
from services.intake.settings import MIGRATIONS, Settings
from shared.app import create_service_app
from shared.parking import Parking
from shared.runtime import build_runtime
from shared.units import unknown_ward


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(settings, outbox, audit_log, publishes=["vn.rehab.admitted.v1", "vn.rehab.completed.v1"])
    parking = Parking.of(runtime, parked_events, handlers.on_events)
    runtime.subscribe(handlers.TOPICS, parking.apply, check=unknown_ward)
    runtime.tasks.append(parking.run)
    app = create_service_app(
        runtime,
        title="Hòa Nhập intake",
        description="Registers persons under a pseudonym, admits them into treatment and ends treatment in the "
        "community; emits `admitted` and `completed`.",
        migrations=MIGRATIONS,
        routers=[api.router],
        access_tokens=access_tokens,
        errors=IntakeError,
        not_found=(EpisodeNotFoundError, PersonNotRegisteredError),
    )
    app.state.subject_key = settings.subject_key.get_secret_value().encode()
    return app
