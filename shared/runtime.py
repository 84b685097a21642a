"""The wiring every service process shares: database, broker, outbox relay and consumers, started and stopped
together; and serving a service's app."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.consumer import AfterCommit, Apply, Check, Consumer, DeadLetters
from shared.database import create_engine, migrate, sessions
from shared.events import CONTENT_TYPE, DEADLETTER_TOPIC, EVENT_MODELS, topic_of
from shared.gauges import kafka_consumers, keep_measuring
from shared.kafka import restore_if_lost, sender, start_broker, watch_broker
from shared.observability import Metrics, configure_logging
from shared.outbox import OutboxRelay
from shared.pipeline import Pipeline, pipelined_subscriber
from shared.settings import ServiceSettings
from shared.topics import TopicPolicy, contract_topics, retention_of
from shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: A loop a service runs while it is up (a consumer's pipeline, the parking sweep).
Task = Callable[[], Coroutine[None, None, None]]


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
    audit_log: Table
    tasks: list[Task] = field(default_factory=list)

    def work(self) -> UnitOfWork:
        """A unit of work on the service's tables, outbox, inbox and audit log (`async with runtime.work() as uow`)."""
        return UnitOfWork(self.sessions, self.relay.outbox, self.audit_log, self.relay.wake)

    def publishes(self, *event_types: str) -> None:
        """Declare event types the service emits through its outbox, so the AsyncAPI document shows their schemas."""
        service = self.settings.service
        for event_type in event_types:
            self.broker.publisher(
                topic_of(event_type, self.settings.topic_prefix),
                title=f"{event_type}:{service}",
                description=f"{EVENT_MODELS[event_type].model_fields['data'].annotation.__doc__} "
                f"Published by {service} through its outbox.",
                schema=EVENT_MODELS[event_type],
                headers={"content-type": CONTENT_TYPE},
            )

    def subscribe(
        self,
        topics: Sequence[str],
        apply: Apply,
        *,
        check: Check | None = None,
        after_commit: AfterCommit | None = None,
        sessions: async_sessionmaker[AsyncSession] | None = None,
        inbox: bool = True,
        group_suffix: str = "",
        waiting: int = 1,
    ) -> Pipeline:
        """Consume `topics` (without the deployment's prefix) in batches into `apply`, each batch's effect and inbox
        rows in one transaction, while the service is up (see `Consumer` and `pipelined_subscriber`); the pipeline
        that writes them is returned."""
        prefix = self.settings.topic_prefix
        consumer = Consumer(
            sessions or self.sessions,
            apply,
            self.dead_letters,
            self.metrics,
            topic_prefix=prefix,
            check=check,
            after_commit=after_commit,
            inbox=inbox,
        )
        router = KafkaRouter()
        pipeline = pipelined_subscriber(
            router, self.settings, consumer, *topics, group_suffix=group_suffix, waiting=waiting
        )
        self.broker.include_router(router, prefix=prefix)
        self.tasks.append(pipeline.run)
        return pipeline


def build_runtime(settings: ServiceSettings, outbox: Table, audit_log: Table, publishes: Sequence[str] = ()) -> Runtime:
    """A service's wiring; `publishes`: the event types it emits (see `Runtime.publishes`)."""
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
    runtime = Runtime(settings, metrics, engine, db, broker, relay, dead_letters, audit_log)
    runtime.publishes(*publishes)
    return runtime


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


@asynccontextmanager
async def running(runtime: Runtime, migrations: Path) -> AsyncIterator[None]:
    """The service up: its schema migrated, topics made (or restored), consumers and publishers started, the relay,
    the gauges, the broker's watch and the service's tasks running; all stopped on leaving."""
    settings = runtime.settings
    await _until_it_works("database", lambda: migrate(runtime.engine, settings.db_schema, migrations))
    kafka = (settings.kafka_bootstrap_servers, settings.topic_prefix, settings.topic_partitions, settings.service)
    policy = TopicPolicy.of(settings)
    await _until_it_works("broker", lambda: restore_if_lost(*kafka, runtime.relay, policy=policy))
    await _until_it_works("broker", lambda: check_topics(settings, runtime.metrics))
    await _until_it_works("broker", lambda: start_broker(runtime.broker))
    watch = watch_broker(
        *kafka,
        runtime.relay,
        lambda: kafka_consumers(runtime.broker),
        check_seconds=settings.broker_check_seconds,
        retention_days=settings.outbox_retention_days,
        policy=policy,
    )
    background = [
        asyncio.create_task(runtime.relay.run(), name="outbox-relay"),
        asyncio.create_task(
            keep_measuring(runtime.relay, runtime.broker, runtime.metrics, settings.metrics_interval_seconds)
        ),
        asyncio.create_task(watch, name="broker-watch"),
        asyncio.create_task(_keep_checking_topics(runtime), name="topic-check"),
        *(asyncio.create_task(task()) for task in runtime.tasks),
    ]
    tune_gc()
    log.info("%s started", settings.service)
    try:
        yield
    finally:
        for task in background:
            task.cancel()
        await runtime.broker.stop()
        await runtime.engine.dispose()


async def check_topics(settings: ServiceSettings, metrics: Metrics) -> None:
    """Say when a topic of the contract would expire records (a rebuild replaying it would lose history): a warning
    naming it, when first seen so, the gauge `hoinhap_topic_retention_finite` and a warning in `/readyz`."""
    warned = metrics.expiring_topics
    retention = await retention_of(settings.kafka_bootstrap_servers, contract_topics(settings.topic_prefix))
    metrics.topics_checked(retention)
    for topic in retention:
        if topic.finite and topic.topic not in warned:
            log.warning(
                "topic %s would expire records (%s): the contract's topics are the system of record, replayed "
                "by a rebuild; make it keep them for ever with `hoinhap topics fix`",
                topic.topic,
                topic,
                extra={"topic": topic.topic},
            )


async def _keep_checking_topics(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.broker_check_seconds)
        try:
            await check_topics(runtime.settings, runtime.metrics)
        except Exception as error:  # the broker is down: readiness and the broker's watch say so
            log.warning("topic check failed (%s); trying again", type(error).__name__)


async def check_database(runtime: Runtime) -> None:
    """Readiness: the database answers."""
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_broker(runtime: Runtime) -> None:
    """Readiness: the broker answers."""
    if not await runtime.broker.ping(timeout=2.0):
        raise ConnectionError("broker does not answer")


def serve(create_app: Callable[[Any], FastAPI], settings: ServiceSettings) -> None:
    """Run one service's app in this process until SIGINT or SIGTERM."""
    import uvicorn

    # Hold the port from the start: uvicorn binds only once the lifespan (migrations, consumer groups) is done,
    # seconds in which another process could take a port that looked free. Listening at once, not only binding:
    # two processes may both bind one port with SO_REUSEADDR, and the second would fail only at uvicorn's listen,
    # after a caller had taken the first one's answers for its own. Connections wait in the backlog meanwhile.
    listener = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((settings.host, settings.port))
    listener.listen(2048)
    configure_logging(settings.service, settings.log_level)
    config = uvicorn.Config(create_app(settings), log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[listener])
