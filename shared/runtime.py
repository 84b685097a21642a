"""The wiring every service process shares: database, broker, outbox relay, health and metrics in one lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from pydantic import ValidationError
from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from shared.access import build_access
from shared.access import router as access_router
from shared.access import subscriber as access_subscriber
from shared.api import document_refusals
from shared.consumer import DeadLetters
from shared.database import create_engine, migrate, sessions, unavailable
from shared.events import CONTENT_TYPE, DEADLETTER_TOPIC, EVENT_MODELS, topic_of
from shared.gauges import kafka_consumers, keep_measuring
from shared.kafka import restore_if_lost, sender, start_broker, watch_broker
from shared.observability import Metrics, health_router, instrument_http
from shared.outbox import OutboxRelay
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a service's handlers and endpoints use: built once in `create_app`, closed by its lifespan."""

    settings: ServiceSettings
    metrics: Metrics
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    relay: OutboxRelay
    dead_letters: DeadLetters


def build_runtime(settings: ServiceSettings, outbox: Table, publishes: Sequence[str] = ()) -> Runtime:
    """`publishes`: the event types the service emits, declared so the AsyncAPI document shows their schemas."""
    metrics = Metrics()
    engine = create_engine(settings.database_url.get_secret_value(), settings.db_schema)
    db = sessions(engine)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"hoinhap-{settings.service}",
        acks="all",
        allow_auto_create_topics=False,
        logger=logging.getLogger(f"hoinhap.{settings.service}.faststream"),
        log_level=logging.DEBUG,  # one line per message is for debugging; metrics count them
        middlewares=(KafkaPrometheusMiddleware(registry=metrics.registry, app_name=f"hoinhap-{settings.service}"),),
    )
    prefix = settings.topic_prefix
    for event_type in (*publishes, "vn.rehab.token_issued.v1", "vn.rehab.token_revoked.v1"):
        broker.publisher(
            topic_of(event_type, prefix),
            title=f"{event_type}:{settings.service}",
            description=f"{EVENT_MODELS[event_type].model_fields['data'].annotation.__doc__} "
            f"Published by {settings.service} through its outbox.",
            schema=EVENT_MODELS[event_type],
            headers={"content-type": CONTENT_TYPE},
        )
    broker.publisher(
        prefix + DEADLETTER_TOPIC,
        title=f"{prefix + DEADLETTER_TOPIC}:{settings.service}",
        description="Records that can never be applied, unchanged, with headers hoinhap-reason, "
        "hoinhap-reason-detail, hoinhap-service and hoinhap-original-topic/partition/offset.",
        schema=bytes,
    )
    send = sender(broker)
    relay = OutboxRelay(db, outbox, send, metrics, topic_prefix=prefix, poll_seconds=settings.outbox_poll_seconds)
    dead_letters = DeadLetters(send, metrics, service=settings.service, topic_prefix=prefix)
    return Runtime(settings, metrics, engine, db, broker, relay, dead_letters)


def tune_gc() -> None:
    """Fit the garbage collector to batches: a batch keeps thousands of decoded events alive at once, and with the
    default threshold (700 allocations) the collector ran every few events, scanning them again and again (it cost
    more than validating them). Objects made at start-up are frozen out of its scans."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


async def _until_it_works(what: str, step: Callable[[], Awaitable[object]], attempts: int = 60) -> None:
    """Dependencies may come up after the service (compose, restarts): wait for them rather than exit."""
    for attempt in range(1, attempts + 1):
        try:
            await step()
            return
        except Exception as error:
            if attempt == attempts:
                raise
            log.warning("%s not available yet (%s); retrying", what, type(error).__name__)
            await asyncio.sleep(min(0.2 * attempt, 2.0))


def create_service_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    migrations: Path,
    routers: Sequence[APIRouter],
    access_tokens: Table,
    audit_log: Table,
    tasks: Sequence[Callable[[], Coroutine[None, None, None]]] = (),
    middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
) -> FastAPI:
    """The HTTP application of one service; starting it migrates, creates topics, consumes and relays.
    `tasks`: the service's own background loops (such as the parking sweep), run while it is up.
    `middleware`: the service's own ASGI middleware, inside the request metrics (what it answers is counted)."""
    settings = runtime.settings
    access = build_access(runtime, access_tokens, audit_log)
    token_events, token_writer = access_subscriber(runtime, access)
    runtime.broker.include_router(token_events, prefix=settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _until_it_works("database", lambda: migrate(runtime.engine, settings.db_schema, migrations))
        kafka = (settings.kafka_bootstrap_servers, settings.topic_prefix, settings.topic_partitions, settings.service)
        await _until_it_works("broker", lambda: restore_if_lost(*kafka, runtime.relay))
        await _until_it_works("broker", lambda: start_broker(runtime.broker))
        watch = watch_broker(
            *kafka,
            runtime.relay,
            lambda: kafka_consumers(runtime.broker),
            check_seconds=settings.broker_check_seconds,
            retention_days=settings.outbox_retention_days,
        )
        background = [
            asyncio.create_task(runtime.relay.run(), name="outbox-relay"),
            asyncio.create_task(
                keep_measuring(runtime.relay, runtime.broker, runtime.metrics, settings.metrics_interval_seconds)
            ),
            asyncio.create_task(watch, name="broker-watch"),
            asyncio.create_task(token_writer.run(), name="token-writer"),
            *(asyncio.create_task(task()) for task in tasks),
        ]
        tune_gc()
        log.info("%s started", settings.service)
        try:
            yield
        finally:
            for running in background:
                running.cancel()
            await runtime.broker.stop()
            await runtime.engine.dispose()

    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.access = access
    app.state.authenticate = access.authenticate
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in UNAVAILABLE:
        app.add_exception_handler(error, _database_error)
    app.include_router(health_router(settings.service, runtime.metrics, _readiness(runtime)))
    for router in (*routers, access_router):
        app.include_router(router)
    for layer in middleware:
        app.add_middleware(layer)
    instrument_http(app, runtime.metrics)
    document_refusals(app)
    return app


def _readiness(runtime: Runtime) -> dict[str, Callable[[], Awaitable[None]]]:
    async def database() -> None:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def broker() -> None:
        if not await runtime.broker.ping(timeout=2.0):
            raise ConnectionError("broker does not answer")

    return {"database": database, "broker": broker}


#: Exceptions a request may meet when PostgreSQL is down or restarting (asyncpg's own, unwrapped, when connecting).
UNAVAILABLE: tuple[type[Exception], ...] = (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
#: What a client is told to wait before trying again while the database is unavailable.
RETRY_AFTER_SECONDS = 5


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """503 with Retry-After while the database cannot be reached (the pool reconnects by itself); any other
    database error stays a 500."""
    if unavailable(error):
        log.warning("database unavailable (%s); answered 503", type(error).__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; try again later"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.error("database error", exc_info=error)
    return JSONResponse({"detail": "internal error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def field_errors(
    error: ValidationError | RequestValidationError, prefix: tuple[str, ...] = ()
) -> list[dict[str, object]]:
    """Each error's field and rule, never the rejected value (it may be a national ID)."""
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in error.errors()]


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": field_errors(error)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def unprocessable(error: ValidationError, prefix: tuple[str, ...] = ("body",)) -> HTTPException:
    """A contract violation found while building an event from a request, as a 422 naming the field."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, field_errors(error, prefix))


async def session(request: Request) -> async_sessionmaker[AsyncSession]:
    """FastAPI dependency: the service's session factory (async: FastAPI runs a plain function in a thread)."""
    runtime: Runtime = request.app.state.runtime
    return runtime.sessions
