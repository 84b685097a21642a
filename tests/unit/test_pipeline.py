"""The pipeline's order: every batch handed over is written once, in order, offsets are committed only past what is
written, and a failure anywhere rolls back what is open and writes it again, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from faststream.kafka import KafkaRouter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.settings import Settings
from shared.consumer import Consumer, Decoded, Record, Started
from shared.pipeline import Pipeline, pipelined_subscriber


def records(first: int, n: int, partition: int = 0) -> list[Record]:
    return [Record("t", partition, offset, 0, 0, b"k", b"{}", None, 1, 2, ()) for offset in range(first, first + n)]


class FakeConsumer:
    """Writes by remembering; fails where told (the n-th call of `start` or `finish`, counted from 1)."""

    retry_seconds = 0.0

    def __init__(self, fail_start: Sequence[int] = (), fail_finish: Sequence[int] = (), rest: bool = True) -> None:
        self.fail_start, self.fail_finish = set(fail_start), set(fail_finish)
        self.rest = rest  # whether `apply` leaves a rest, so the next transaction may begin meanwhile
        self.starts = self.finishes = 0
        self.open: set[int] = set()  # transactions begun and not yet finished or aborted
        self.most_open = 0
        self.written: list[int] = []  # last offset of each batch written, in commit order
        self.taken: list[int] = []  # batches of each transaction begun

    async def decoded(self, batch: Sequence[Record]) -> Decoded:
        return Decoded(len(batch), {(r.topic, r.partition): r.offset for r in batch})

    async def start(self, batches: Sequence[Decoded]) -> Started:
        self.starts += 1
        self.taken.append(len(batches))
        await asyncio.sleep(0)
        if self.starts in self.fail_start:
            raise RuntimeError("database went away")
        started = Started(batches, cast(AsyncSession, None), [], 0.0, rest=self._rest if self.rest else None)
        self.open.add(id(started))
        self.most_open = max(self.most_open, len(self.open))
        return started

    async def _rest(self) -> None:
        await asyncio.sleep(0.01)

    async def finish(self, started: Started) -> None:
        self.finishes += 1
        assert id(started) in self.open, "finished a transaction that was not open"
        if started.rest is not None:
            await started.rest()
        await asyncio.sleep(0.01)  # the commit: long enough for the next batch to be handed over meanwhile
        self.open.discard(id(started))
        if self.finishes in self.fail_finish:
            raise RuntimeError("database went away")
        self.written += [b.ends["t", 0] for b in started.batches]

    async def abort(self, started: Started) -> None:
        self.open.discard(id(started))


class FakeKafka:
    def __init__(self) -> None:
        self.commits: list[int] = []
        self.positions: dict[TopicPartition, int] = {}  # where each partition is read from next
        self.assigned = {TopicPartition("t", 0)}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 10**9)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets[TopicPartition("t", 0)])


async def write(consumer: FakeConsumer, batches: int, waiting: int = 1, kafka: FakeKafka | None = None) -> FakeKafka:
    """Hand `batches` batches of 10 records over, as the subscriber does, and wait until all are committed."""
    pipeline = Pipeline(cast(Consumer, consumer), waiting=waiting)
    kafka = kafka or FakeKafka()
    pipeline.kafka = cast(Any, kafka)
    writer = asyncio.create_task(pipeline.run())
    try:
        for n in range(batches):
            await pipeline.put(records(10 * n, 10))
        await asyncio.wait_for(pipeline.queue.join(), timeout=5)
    finally:
        writer.cancel()
    return kafka


def assert_committed_in_order(kafka: FakeKafka, batches: int) -> None:
    assert kafka.commits == sorted(kafka.commits)
    assert kafka.commits[-1] == 10 * batches


async def test_every_batch_is_written_once_in_order_and_committed_after() -> None:
    consumer = FakeConsumer()
    kafka = await write(consumer, 8)
    assert consumer.written == [10 * n + 9 for n in range(8)]
    assert_committed_in_order(kafka, 8)
    assert not consumer.open
    assert consumer.most_open == 2  # the next transaction began while one ran its rest


async def test_a_transaction_without_a_rest_is_committed_before_the_next_begins() -> None:
    """Its `apply` may read what the one before wrote; it would not see it uncommitted."""
    consumer = FakeConsumer(rest=False)
    kafka = await write(consumer, 8, waiting=2)
    assert consumer.written == [10 * n + 9 for n in range(8)]
    assert_committed_in_order(kafka, 8)
    assert consumer.most_open == 1


async def test_a_failed_finish_rolls_back_the_next_start_and_writes_both_again_in_order() -> None:
    consumer = FakeConsumer(fail_finish=[2, 3])
    kafka = await write(consumer, 8)
    assert consumer.written == [10 * n + 9 for n in range(8)]
    assert_committed_in_order(kafka, 8)
    assert not consumer.open  # the next batch's transaction was rolled back, not left open


async def test_a_failed_start_is_tried_again_and_nothing_after_it_is_committed_first() -> None:
    consumer = FakeConsumer(fail_start=[1, 3, 4])
    kafka = await write(consumer, 8)
    assert consumer.written == [10 * n + 9 for n in range(8)]
    assert_committed_in_order(kafka, 8)
    assert not consumer.open


async def test_batches_that_waited_are_written_together() -> None:
    """With several handed over while the writer is busy, it takes them in one transaction (as many as may wait)."""
    consumer = FakeConsumer()
    await write(consumer, 13, waiting=4)
    assert consumer.written == [10 * n + 9 for n in range(13)]
    assert max(consumer.taken) == 4  # no more than may wait: each holds its events until its transaction commits


async def test_offsets_of_a_partition_read_again_from_further_back_are_not_committed() -> None:
    """When the broker check rewinds the consumer (the broker lost its topics), offsets fetched before would point
    past records of the recreated topics; they are left for the batches read after the rewind."""
    kafka = FakeKafka()
    kafka.positions[TopicPartition("t", 0)] = 0  # rewound to the start
    consumer = FakeConsumer()
    await write(consumer, 3, kafka=kafka)
    assert consumer.written == [9, 19, 29]  # written (applying them again changes nothing)
    assert kafka.commits == []


async def test_offsets_of_a_partition_given_away_are_not_committed() -> None:
    """A partition another consumer owns now is committed by its new owner, who reads these records again."""
    kafka = FakeKafka()
    kafka.assigned = set()
    consumer = FakeConsumer()
    await write(consumer, 2, kafka=kafka)
    assert consumer.written == [9, 19]
    assert kafka.commits == []


def settings(**extra: Any) -> Settings:
    return Settings(
        DATABASE_URL="postgresql://u@h/d", KAFKA_BOOTSTRAP_SERVERS="h:9092", HOINHAP_ADMIN_TOKEN="t" * 20, **extra
    )


def test_the_session_timeout_and_heartbeats_of_the_group_come_from_the_settings() -> None:
    """A replica that died stalls its partitions for the session timeout; the broker also holds a group's first join
    for part of it (Tansu half), which every start waits for."""
    router = KafkaRouter()
    pipelined_subscriber(router, settings(HOINHAP_CONSUMER_SESSION_SECONDS=9), cast(Consumer, None), "t")
    [subscriber] = router.subscribers
    given_to_aiokafka = subscriber._connection_args  # type: ignore[attr-defined]
    assert (given_to_aiokafka["session_timeout_ms"], given_to_aiokafka["heartbeat_interval_ms"]) == (9000, 3000)
    assert settings().consumer_session_seconds == 6  # the least Apache Kafka accepts unless told otherwise
    with pytest.raises(ValidationError, match="HOINHAP_CONSUMER_SESSION_SECONDS"):
        settings(HOINHAP_CONSUMER_SESSION_SECONDS=5)
