"""Aftercare's subscribers: `admitted` tells what each episode is, `completed` opens post-treatment management;
`relapsed` and `employed` that agencies published are recorded (this service's own are in its inbox already)."""

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
    topics = [TOPICS[f"vn.rehab.{name}.v1"] for name in ("admitted", "completed", "relapsed", "employed")]

    @batch_subscriber(router, runtime.settings, *topics)
    async def on_events(records: list[Record]) -> None:
        await consumer.handle(records)
        runtime.relay.wake()  # the batch may have opened cases: announce them now

    return router
