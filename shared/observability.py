"""Observability every service shares: JSON-lines logs, the Prometheus metrics, and health/metrics routes."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.events import TOPICS, short_type
from shared.topics import Retention

# A `_created` series per counter and histogram doubles what Prometheus stores and nothing here reads it.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: What became of a consumed record: applied, a duplicate the inbox skipped, dead-lettered, or in a batch that
#: failed and will be redelivered.
CONSUMED_RESULTS = ("applied", "duplicate", "rejected", "failed")
#: What became of an outbox event sent to Kafka: the broker acknowledged it, or it stays in the outbox for a retry.
PUBLISHED_RESULTS = ("acknowledged", "failed")

#: Extra fields a log record may carry; anything else passed in `extra` is dropped, never logged.
LOG_FIELDS = (
    "event_id",
    "event_type",
    "episode_id",
    "topic",
    "partition",
    "offset",
    "count",
    "reason",
    "url",
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in LOG_FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str) -> None:
    """Send every log record of the process to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # requests are counted, not logged
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


@dataclass
class Metrics:
    """The metrics every service exports, on a registry of its own.

    Label values are bounded sets (event types, results, reasons, routes, topics and partitions, views), never ids.
    Counters start at zero for every type and result, so `increase()` sees their first event.
    """

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        # The process's own: resident memory, CPU seconds, open files (process_*), garbage collections (python_gc_*)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.consumed = Counter(
            "hoinhap_events_consumed",
            "Records taken from Kafka, by event type and result (applied, duplicate, rejected, failed).",
            ["type", "result"],
            registry=r,
        )
        self.published = Counter(
            "hoinhap_events_published",
            "Outbox events sent to Kafka, by event type and result (acknowledged, failed and kept for a retry).",
            ["type", "result"],
            registry=r,
        )
        for event_type in map(short_type, TOPICS):
            for result in CONSUMED_RESULTS:
                self.consumed.labels(event_type, result)
            for result in PUBLISHED_RESULTS:
                self.published.labels(event_type, result)
        self.deadlettered = Counter(
            "hoinhap_deadletter_records",
            "Records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "hoinhap_consume_batch_duration_seconds",
            "Time to handle one batch of consumed records, database commit included.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "hoinhap_outbox_backlog_events",
            "Events in the service's outbox not yet published (the whole table: every replica reports the same).",
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "hoinhap_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event; 0 when empty.", registry=r
        )
        self.consumer_lag = Gauge(
            "hoinhap_consumer_lag_records",
            "Records in a partition assigned to this process that its consumer group has not committed yet.",
            ["topic", "partition"],
            registry=r,
        )
        self.parked = Gauge(
            "hoinhap_parked_events", "Events parked until the event they follow has been applied.", registry=r
        )
        self.view_newest_event = Gauge(
            "hoinhap_view_newest_event_timestamp_seconds",
            "Time of the newest event applied to a view (Unix seconds, the events' own `time`); "
            "its age is how stale the numbers agencies read may be.",
            ["view"],
            registry=r,
        )
        self._view_newest: dict[str, float] = {}
        self.topic_retention_finite = Gauge(
            "hoinhap_topic_retention_finite",
            "1 for a topic of the contract the broker would delete records of (a finite retention.ms or "
            "retention.bytes): a rebuild replaying it would lose history; 0 when it keeps them for ever.",
            ["topic"],
            registry=r,
        )
        #: Topics that would expire records, with what the broker says of their retention (for `/readyz`).
        self.expiring_topics: dict[str, str] = {}
        self.http_requests = Counter(
            "hoinhap_http_requests",
            "HTTP requests, by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "hoinhap_http_request_duration_seconds",
            "HTTP request latency, by route and method.",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )

    def view_applied(self, view: str, event_time: float) -> None:
        """A view committed an event of `event_time`; a late, older event leaves the view as fresh as it was."""
        newest = max(event_time, self._view_newest.get(view, event_time))
        self._view_newest[view] = newest
        self.view_newest_event.labels(view).set(newest)

    def topics_checked(self, retention: Iterable[Retention]) -> None:
        """What the broker said of the retention of the topics checked."""
        checked = list(retention)
        for topic in checked:
            self.topic_retention_finite.labels(topic.topic).set(int(topic.finite))
        self.expiring_topics = {topic.topic: str(topic) for topic in checked if topic.finite}


def instrument_http(app: FastAPI, metrics: Metrics) -> None:
    """Count and time every request under its route template, so label values stay bounded. A plain ASGI
    middleware: Starlette's `BaseHTTPMiddleware` costs a task and a stream per request, most of a cached read."""
    app.add_middleware(_Measured, metrics=metrics)


class _Measured:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def sent(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.http_requests.labels(route, scope["method"], str(status_code)).inc()
            self.metrics.http_seconds.labels(route, scope["method"]).observe(time.perf_counter() - started)


ReadinessCheck = Callable[[], Awaitable[None]]


def health_router(service: str, metrics: Metrics, checks: dict[str, ReadinessCheck]) -> APIRouter:
    """`/healthz` (the process answers), `/readyz` (its dependencies answer; it names the service, so a caller can
    tell it reached the one it meant) and `/metrics`; no authentication."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: the database and the broker answer", responses={503: {}})
    async def readyz() -> JSONResponse:
        failures: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as error:
                failures[name] = type(error).__name__
        # A topic that would expire records is a warning, not an outage: named, the service stays ready.
        warnings = [{"topic": t, "retention": r} for t, r in metrics.expiring_topics.items()]
        shown = {"warnings": {"topics": warnings}} if warnings else {}
        if failures:
            body = {"status": "unavailable", "service": service, "failing": failures, **shown}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "service": service, **shown})

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
