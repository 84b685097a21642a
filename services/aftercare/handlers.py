"""Aftercare's subscribers: `completed` opens post-treatment management."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from services.aftercare.db import apply_events
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
    )
    router = KafkaRouter()

    @batch_subscriber(router, runtime.settings, TOPICS["vn.rehab.completed.v1"])
    async def on_completed(records: list[Record]) -> None:
        await consumer.handle(records)

    return router
