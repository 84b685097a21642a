"""Aftercare's subscribers: `admitted` tells what each episode is, `completed` opens post-treatment management;
`relapsed` and `employed` that agencies published are recorded (this service's own are in its inbox already)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from shared.consumer import Consumer
from shared.events import EVENT_TOPICS
from shared.parking import Parking
from shared.pipeline import Pipeline, pipelined_subscriber
from shared.runtime import Runtime
from shared.units import unknown_ward

#: The topics it consumes (without the deployment's prefix).
TOPICS = [EVENT_TOPICS[f"vn.rehab.{name}.v1"] for name in ("admitted", "completed", "relapsed", "employed")]


def build_router(runtime: Runtime, parking: Parking) -> tuple[KafkaRouter, Pipeline]:
    """The subscriber of the service's topics, and the pipeline that writes what it takes (run it while the service
    is up)."""
    consumer = Consumer(
        runtime.sessions,
        parking.apply,
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=unknown_ward,
        after_commit=lambda _: runtime.relay.wake(),  # the batch may have opened cases: announce them now
    )
    router = KafkaRouter()

    return router, pipelined_subscriber(router, runtime.settings, consumer, *TOPICS)
