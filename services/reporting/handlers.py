"""Reporting's subscribers: every event type feeds the views."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaRouter

from services.reporting.projections import apply_events, mark_fresh, unknown_unit
from shared.consumer import Consumer, Record, batch_subscriber
from shared.events import TOPICS
from shared.runtime import Runtime


def build_router(runtime: Runtime) -> KafkaRouter:
    consumer = Consumer(
        runtime.sessions,
        apply_events,
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=unknown_unit,
        after_commit=partial(mark_fresh, runtime.metrics),
    )
    router = KafkaRouter()

    @batch_subscriber(router, runtime.settings, *TOPICS.values())
    async def on_events(records: list[Record]) -> None:
        await consumer.handle(records)

    return router
