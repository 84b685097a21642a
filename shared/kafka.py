"""Kafka plumbing every service shares: creating the contract's topics, sending raw records, and giving a broker
that lost its topics (a memory-only broker restarted) the events it lost, from the retained outbox."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from shared.events import all_topics
from shared.outbox import OutboxRelay, Send
from shared.topics import ONE_BROKER, TopicPolicy

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap_servers: str, prefix: str, partitions: int, policy: TopicPolicy = ONE_BROKER
) -> list[str]:
    """Create the topics of the contract that are missing, as `policy` says; returns the ones it created. Topics
    that exist are left as they are (`shared.topics` reports those that would expire records)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return await _create_missing(admin, prefix, all_topics(prefix), partitions, policy)
    finally:
        await admin.close()


async def _create_missing(
    admin: AIOKafkaAdminClient, prefix: str, topics: list[str], partitions: int, policy: TopicPolicy
) -> list[str]:
    existing = set(await admin.list_topics())
    missing = [t for t in topics if t not in existing]
    made = [
        NewTopic(t, partitions, policy.replication_factor, topic_configs=policy.configs(t, prefix)) for t in missing
    ]
    if made:
        with suppress(TopicAlreadyExistsError):  # another process won the race
            await admin.create_topics(made)
    return missing


def marker_topic(prefix: str, service: str) -> str:
    """A topic only `service` creates, once its retained outbox is queued for the broker: gone, the broker has lost
    what the service published (whoever recreated the contract's topics since)."""
    return f"{prefix}hoinhap.marker.{service}"


#: The service's running consumers, rewound to the start of the topics when the broker lost them.
Consumers = Callable[[], list[AIOKafkaConsumer]]


async def restore_if_lost(
    bootstrap_servers: str,
    prefix: str,
    partitions: int,
    service: str,
    relay: OutboxRelay,
    consumers: Consumers = list,
    policy: TopicPolicy = ONE_BROKER,
) -> int:
    """Make sure the broker holds the topics and what this service published. When its marker or a topic of the
    contract is gone: create the topics, queue the retained outbox again, then the marker, and read the topics
    again from their start (a position held from before the loss could skip replayed records; the inbox skips
    what was applied). Returns the number of events queued again (0 when nothing was lost)."""
    marker = marker_topic(prefix, service)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if marker in existing and set(all_topics(prefix)) <= existing:
            return 0
        created = await _create_missing(admin, prefix, all_topics(prefix), partitions, policy)
        replayed = await relay.replay()
        await _create_missing(admin, prefix, [marker], 1, policy)
    finally:
        await admin.close()
    for consumer in consumers():
        if assigned := consumer.assignment():
            await consumer.seek_to_beginning(*assigned)
    if replayed:
        log.warning(
            "the broker had lost what this service published: created %d missing topics and queued %d retained "
            "outbox events again",
            len(created),
            replayed,
        )
    else:  # a first start, or nothing published within the retention period
        log.info("no marker of this service on the broker: created %d missing topics and the marker", len(created))
    return replayed


async def watch_broker(
    bootstrap_servers: str,
    prefix: str,
    partitions: int,
    service: str,
    relay: OutboxRelay,
    consumers: Consumers,
    *,
    check_seconds: float,
    retention_days: float,
    policy: TopicPolicy = ONE_BROKER,
) -> None:
    """Every `check_seconds` until cancelled: restore what the broker lost; about hourly, forget outbox events
    published longer ago than the retention period."""
    purged_at = 0.0
    while True:
        await asyncio.sleep(check_seconds)
        try:
            await restore_if_lost(bootstrap_servers, prefix, partitions, service, relay, consumers, policy)
            if time.monotonic() - purged_at > min(3600, retention_days * 86_400):
                await relay.purge(retention_days)
                purged_at = time.monotonic()
        except Exception as error:  # the broker or the database is down: readiness and alerts say so
            log.warning("broker check failed (%s); trying again", type(error).__name__)


async def start_broker(broker: KafkaBroker) -> None:
    """Connect, then start the subscribers at once. Starting a consumer waits for its group to hand it partitions,
    and the broker holds a group's first join for a while (Tansu half the session timeout, 3 s of the default 6;
    Apache Kafka its `group.initial.rebalance.delay.ms`, 3 s): FastStream's `start` starts subscribers one after
    another, so every service waited twice that (its own group, then its `-access` group) before it consumed or
    answered HTTP.
    A failed start stops what did start, so that trying again does not leave a consumer in its group."""
    try:
        await broker.connect()
        async with asyncio.TaskGroup() as starting:
            for subscriber in broker.subscribers:
                starting.create_task(subscriber.start())
        for publisher in broker.publishers:
            await publisher.start()
    except BaseException as error:
        with suppress(Exception):
            await broker.stop()
        if isinstance(error, ExceptionGroup):
            raise error.exceptions[0] from error  # what failed, for the caller's "retrying" log line
        raise
    broker.running = True


def sender(broker: KafkaBroker) -> Send:
    """Send through the broker's producer without waiting; the caller gathers the returned futures."""

    async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Awaitable[object]:
        return await broker.publish(value, topic=topic, key=key, headers=headers, no_confirm=True)

    return send
