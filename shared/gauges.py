"""Gauges measured on a timer rather than when something happens: outbox backlog and consumer lag."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker

from shared.observability import Metrics
from shared.outbox import OutboxRelay

log = logging.getLogger(__name__)


async def consumer_lag(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """For each partition assigned to `consumer`: records its group has not committed yet.

    Committed offsets rather than fetch positions, so a batch still being handled counts as lag."""
    assigned = sorted(consumer.assignment())
    if not assigned:
        return {}
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
    committed: list[int | None] = await asyncio.gather(*(consumer.committed(tp) for tp in assigned))
    never = [tp for tp, offset in zip(assigned, committed, strict=True) if offset is None]
    starts: dict[TopicPartition, int] = await consumer.beginning_offsets(never) if never else {}
    return {
        tp: max(ends[tp] - (starts[tp] if offset is None else offset), 0)
        for tp, offset in zip(assigned, committed, strict=True)
    }


def kafka_consumers(broker: KafkaBroker) -> list[AIOKafkaConsumer]:
    """The aiokafka consumers of the broker's running subscribers."""
    found = (getattr(subscriber, "consumer", None) for subscriber in broker.subscribers)
    return [c for c in found if isinstance(c, AIOKafkaConsumer)]


async def measure_lag(consumers: Iterable[AIOKafkaConsumer], metrics: Metrics) -> None:
    """Replace every lag series: partitions this process no longer holds (after a rebalance) disappear."""
    lags: dict[TopicPartition, int] = {}
    for consumer in consumers:
        lags |= await consumer_lag(consumer)
    metrics.consumer_lag.clear()  # no await from here on: a scrape never sees the series half replaced
    for tp, lag in lags.items():
        metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)


async def keep_measuring(relay: OutboxRelay, broker: KafkaBroker, metrics: Metrics, interval: float) -> None:
    """Measure every `interval` seconds until cancelled; a failed measurement leaves the last values."""
    measurements: dict[str, Callable[[], Awaitable[None]]] = {
        "outbox backlog": relay.measure,
        "consumer lag": lambda: measure_lag(kafka_consumers(broker), metrics),
    }
    while True:
        for what, measure in measurements.items():
            try:
                await asyncio.wait_for(measure(), timeout=max(interval, 10))
            except Exception as error:  # the database or broker is down: readiness and alerts say so
                log.warning("could not measure the %s (%s); trying again", what, type(error).__name__)
        await asyncio.sleep(interval)
