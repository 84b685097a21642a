"""Reporting's subscribers: the five event types and aftercare's intake feed the views."""

from __future__ import annotations

from faststream.kafka import KafkaRouter
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.cache import ReadCache, views_changed
from services.reporting.db import consumer_sessions
from services.reporting.projections import CONSUMED_TYPES, apply_events, mark_fresh, unknown_unit
from shared.consumer import Consumer, Record, batch_subscriber
from shared.events import EVENT_TOPICS, Event
from shared.runtime import Runtime


def build_router(runtime: Runtime, cache: ReadCache) -> KafkaRouter:
    def after_commit(applied: list[Event]) -> None:
        mark_fresh(runtime.metrics, applied)
        if applied:
            cache.changed()

    schema = runtime.settings.db_schema

    async def apply(session: AsyncSession, events: list[Event]) -> list[Event]:
        applied = await apply_events(session, events)
        if applied:
            await views_changed(session, schema)  # other replicas' caches, on commit
        return applied

    consumer = Consumer(
        consumer_sessions(runtime.engine, schema),
        apply,
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=unknown_unit,
        after_commit=after_commit,
        inbox=False,  # the views' own keys find duplicates (projections.py)
    )
    router = KafkaRouter()

    @batch_subscriber(router, runtime.settings, *(EVENT_TOPICS[t] for t in CONSUMED_TYPES))
    async def on_events(records: list[Record]) -> None:
        await consumer.handle(records)

    return router
