"""Consumer lag on the real broker: what the group has not committed, per partition; zero once everything is
committed; and after a rebalance, only the partitions this process still holds."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.gauges import measure_lag
from shared.kafka import ensure_topics
from shared.observability import Metrics
from tests.e2e.conftest import eventually
from tests.infra import Infra


def lags(metrics: Metrics) -> dict[tuple[str, int], float]:
    [family] = metrics.consumer_lag.collect()
    return {(s.labels["topic"], int(s.labels["partition"])): s.value for s in family.samples}


@pytest.fixture
async def topic(infra: Infra) -> str:
    prefix = f"{infra.topic_prefix}lag{time.monotonic_ns()}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    return prefix + "rehab.admitted"


@pytest.fixture
async def consumers(infra: Infra, topic: str) -> AsyncIterator[list[AIOKafkaConsumer]]:
    """Two members of one group on `topic`; only the first is started."""
    made = [
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=infra.bootstrap_servers,
            group_id=topic + ".group",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        for _ in range(2)
    ]
    await made[0].start()
    try:
        yield made
    finally:
        for consumer in made:
            await consumer.stop()


async def assigned(consumer: AIOKafkaConsumer) -> set[int]:
    await consumer.getmany(timeout_ms=100)  # keeps the member polling while the group settles
    return {tp.partition for tp in consumer.assignment()}


async def test_lag_counts_what_the_group_has_not_committed_and_returns_to_zero(
    infra: Infra, topic: str, consumers: list[AIOKafkaConsumer]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        for partition in (0, 0, 0, 2):
            await producer.send_and_wait(topic, b"{}", partition=partition)
    finally:
        await producer.stop()
    consumer, metrics = consumers[0], Metrics()
    assert await eventually(lambda: assigned(consumer), {0, 1, 2}) == {0, 1, 2}

    await measure_lag([consumer], metrics)
    assert lags(metrics) == {(topic, 0): 3, (topic, 1): 0, (topic, 2): 1}

    async def fetched_everything() -> bool:
        await consumer.getmany(timeout_ms=100)
        return [await consumer.position(tp) for tp in sorted(consumer.assignment())] == [3, 0, 1]

    assert await eventually(fetched_everything, True)
    await measure_lag([consumer], metrics)  # fetched is not consumed: lag falls once the offsets are committed
    assert sum(lags(metrics).values()) == 4
    await consumer.commit()
    await measure_lag([consumer], metrics)
    assert lags(metrics) == {(topic, 0): 0, (topic, 1): 0, (topic, 2): 0}


async def test_after_a_rebalance_only_the_partitions_still_held_are_reported(
    topic: str, consumers: list[AIOKafkaConsumer]
) -> None:
    first, second = consumers
    metrics = Metrics()
    assert await eventually(lambda: assigned(first), {0, 1, 2}) == {0, 1, 2}
    await measure_lag([first], metrics)
    assert set(lags(metrics)) == {(topic, 0), (topic, 1), (topic, 2)}

    await second.start()

    async def split() -> bool:
        mine, theirs = await assigned(first), await assigned(second)
        return bool(mine) and bool(theirs) and mine | theirs == {0, 1, 2}

    assert await eventually(split, True)
    await measure_lag([first], metrics)
    assert set(lags(metrics)) == {(topic, tp.partition) for tp in first.assignment()}
    assert len(lags(metrics)) < 3
