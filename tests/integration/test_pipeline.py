"""Reporting's pipelined consumer on the real broker and PostgreSQL: records taken from the topics, with the
database failing now and then, end in views equal to the same events applied once, and the group's offsets at the
end of every partition."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.reporting import handlers
from services.reporting.models import audit_log, outbox
from services.reporting.read.cache import ReadCache
from services.reporting.settings import Settings
from shared.consumer import Deferred
from shared.database import sessions
from shared.events import Event, all_topics
from shared.kafka import ensure_topics
from shared.runtime import build_runtime
from tests.e2e.conftest import eventually
from tests.infra import Infra
from tests.integration.test_reporting_rebuild import a_stream, publish
from tests.integration.test_reporting_views import _schema, deliver, dump


@pytest.fixture
async def live(infra: Infra) -> AsyncIterator[tuple[AsyncEngine, str]]:
    name = f"pl_{uuid.uuid4().hex[:8]}"
    engine = await _schema(infra, name)
    yield engine, name
    await engine.dispose()


async def committed(infra: Infra, group: str, prefix: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        partitions = [TopicPartition(t, p) for t in all_topics(prefix) for p in range(3)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for meta in offsets.values())


async def test_a_pipelined_consumer_writes_every_record_once_through_database_failures(
    infra: Infra, live: tuple[AsyncEngine, str]
) -> None:
    engine, name = live
    prefix = f"{infra.topic_prefix}pl{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    events = a_stream(random.Random(3), 900, "pl")
    records = events + events[:200]  # some twice, as an outbox relay's retry leaves them
    settings = Settings(
        DATABASE_URL=infra.database_url,
        KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap_servers,
        HOINHAP_ADMIN_TOKEN="t" * 20,
        HOINHAP_TOPIC_PREFIX=prefix,
        HOINHAP_CONSUMER_MAX_RECORDS=97,
        db_schema=name,
    )
    runtime = build_runtime(settings, outbox, audit_log)
    pipeline = handlers.subscribe(runtime, ReadCache(0))  # as the service does
    calls = 0
    apply = pipeline.consumer.apply

    async def failing_now_and_then(session: AsyncSession, batch: list[Event]) -> list[Event] | Deferred | None:
        nonlocal calls
        calls += 1
        if calls % 4 == 2:  # in the first half (the facts) of every fourth transaction
            raise ConnectionResetError("the database went away")
        applied = await apply(session, batch)
        if calls % 4 == 3 and isinstance(applied, Deferred):  # or in the second half (the totals) of the next

            async def failing_rest() -> None:
                raise ConnectionResetError("the database went away")

            return Deferred(applied.events, failing_rest)
        return applied

    pipeline.consumer.apply = failing_now_and_then
    pipeline.consumer.retry_seconds = 0.05
    broker = runtime.broker
    await publish(infra, prefix, records)
    await broker.start()
    writer = asyncio.create_task(pipeline.run())
    try:
        group = settings.consumer_group
        assert await eventually(lambda: committed(infra, group, prefix), len(records), timeout=60) == len(records)
    finally:
        writer.cancel()
        await broker.stop()
        await runtime.engine.dispose()
    [consumed] = runtime.metrics.consumed.collect()
    failed = sum(s.value for s in consumed.samples if s.labels.get("result") == "failed")
    assert failed > 0  # the failures happened, and were written again

    scratch = await _schema(infra, f"pl_{uuid.uuid4().hex[:8]}")
    try:
        await deliver(sessions(scratch), [events])
        assert await dump(engine) == await dump(scratch)
    finally:
        await scratch.dispose()
