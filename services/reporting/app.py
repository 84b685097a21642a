"""The reporting service's composition root."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.reporting import api, api_census, api_dashboard, api_targets, handlers
from services.reporting.cache import CachedReads, ReadCache, listen
from services.reporting.models import access_tokens, audit_log, outbox
from shared.runtime import build_runtime, create_service_app
from shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOINHAP_REPORTING_", extra="ignore", frozen=True)

    port: int = Field(default=8004, ge=1, le=65535, description="Port the HTTP server listens on.")
    db_schema: str = Field(default="reporting", description="PostgreSQL schema holding reporting's tables.")
    suppression_threshold: int = Field(
        default=5, ge=2, description="With suppress=true, counts from 1 to this minus one are withheld."
    )
    read_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long a rendered read is reused at most (0 turns the cache off). Every commit that changes "
        "the views, here, in another replica or a rebuild's swap, empties the cache at once (PostgreSQL NOTIFY).",
    )
    rebuild_processes: int = Field(
        default=3,
        ge=1,
        le=64,
        description="Processes `hoinhap reporting rebuild` replays the topics in, each taking the partitions of "
        "one number (so at most as many as a topic has partitions); the replay is bound by Python, one core each.",
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # fields come from the environment
    runtime = build_runtime(settings, outbox)
    cache = ReadCache(settings.read_cache_seconds)
    router, pipeline = handlers.build_router(runtime, cache)
    runtime.broker.include_router(router, prefix=settings.topic_prefix)
    app = create_service_app(
        runtime,
        title="Hòa Nhập reporting",
        description="Materialised indicator views built from the five event types (and aftercare's intake), "
        "read over HTTP as JSON or CSV: indicators against plan targets, census by modality, discharges.",
        migrations=MIGRATIONS,
        routers=[api.router, api_census.router, api_targets.router, api_dashboard.router],
        access_tokens=access_tokens,
        audit_log=audit_log,
        tasks=[pipeline.run, partial(listen, settings.database_url.get_secret_value(), settings.db_schema, cache)],
        middleware=[CachedReads],
    )
    app.state.suppression_threshold = settings.suppression_threshold
    app.state.read_cache = cache
    return app
