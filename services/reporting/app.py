"""The reporting service's composition root."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from services.reporting import api, handlers
from services.reporting.models import access_tokens, audit_log, outbox
from services.reporting.read import breakdown, census, indicators, reference
from services.reporting.read.cache import CachedReads, ReadCache, listen
from services.reporting.settings import MIGRATIONS, Settings
from shared.app import create_service_app
from shared.runtime import build_runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(settings, outbox, audit_log)
    cache = ReadCache(settings.read_cache_seconds)
    handlers.subscribe(runtime, cache)
    runtime.tasks.append(partial(listen, settings.database_url.get_secret_value(), settings.db_schema, cache))
    app = create_service_app(
        runtime,
        title="Hòa Nhập reporting",
        description="Materialised indicator views built from the five event types (and aftercare's intake), "
        "read over HTTP as JSON or CSV: indicators against plan targets, census by modality, discharges.",
        migrations=MIGRATIONS,
        routers=[indicators.router, breakdown.router, census.router, api.router, reference.router],
        access_tokens=access_tokens,
        middleware=[CachedReads],
    )
    app.state.suppression_threshold = settings.suppression_threshold
    app.state.read_cache = cache
    return app
