"""Facility's subscribers: `admitted` makes residents; `transferred` and `completed` that agencies published move
and discharge them (this service's own are in its inbox already)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from shared.consumer import Consumer, Record, batch_subscriber
from shared.events import TOPICS
from shared.parking import Parking
from shared.runtime import Runtime
from shared.units import unknown_ward


def build_router(runtime: Runtime, parking: Parking) -> KafkaRouter:
    consumer = Consumer(
        runtime.sessions,
        parking.apply,
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=unknown_ward,
    )
    router = KafkaRouter()
    topics = [TOPICS[t] for t in ("vn.rehab.admitted.v1", "vn.rehab.transferred.v1", "vn.rehab.completed.v1")]

    @batch_subscriber(router, runtime.settings, *topics)
    async def on_events(records: list[Record]) -> None:
        await consumer.handle(records)

    return router
