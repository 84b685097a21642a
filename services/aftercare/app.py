"""The aftercare service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.aftercare import api, handlers
from services.aftercare.domain import AftercareError, CaseNotFoundError
from services.aftercare.models import access_tokens, audit_log, outbox, parked_events
from services.aftercare.settings import MIGRATIONS, Settings
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
        publishes=["vn.rehab.relapsed.v1", "vn.rehab.employed.v1", "vn.rehab.aftercare_opened.v1"],
    )
    parking = Parking.of(runtime, parked_events, handlers.on_events)
    runtime.subscribe(
        handlers.TOPICS,
        parking.apply,
        check=unknown_ward,
        after_commit=lambda _: runtime.relay.wake(),  # the batch may have opened cases: announce them now
    )
    runtime.tasks.append(parking.run)
    return create_service_app(
        runtime,
        title="Hòa Nhập aftercare",
        description="Post-treatment management at the place of residence; records relapses and employment support; "
        "emits `aftercare_opened`, `relapsed` and `employed`.",
        migrations=MIGRATIONS,
        routers=[api.router],
        access_tokens=access_tokens,
        errors=AftercareError,
        not_found=(CaseNotFoundError,),
    )
