"""Kafka plumbing every service shares: creating the contract's topics and sending raw records."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from shared.events import all_topics
from shared.outbox import Send

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap_servers: str, prefix: str, partitions: int) -> list[str]:
    """Create the topics of the contract that are missing; returns the ones it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics(prefix) if t not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
        return missing
    finally:
        await admin.close()


def sender(broker: KafkaBroker) -> Send:
    """Send through the broker's producer without waiting; the caller gathers the returned futures."""

    async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Awaitable[object]:
        return await broker.publish(value, topic=topic, key=key, headers=headers, no_confirm=True)

    return send
