"""Intake's subscribers: admissions agencies published, ends and relapses of episodes, registered facilities."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from shared.consumer import Consumer
from shared.events import EVENT_TOPICS
from shared.parking import Parking
from shared.pipeline import Pipeline, pipelined_subscriber
from shared.runtime import Runtime
from shared.units import unknown_ward

#: The topics it consumes (without the deployment's prefix).
TOPICS = [
    EVENT_TOPICS[t]
    for t in (
        "vn.rehab.admitted.v1",
        "vn.rehab.completed.v1",
        "vn.rehab.relapsed.v1",
        "vn.rehab.facility_registered.v1",
    )
]


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
    )
    router = KafkaRouter()

    return router, pipelined_subscriber(router, runtime.settings, consumer, *TOPICS)
