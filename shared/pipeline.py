"""Consuming with the database and the broker at work at once: a batch is written while the next ones are fetched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy

from shared.consumer import Consumer, Decoded, Record, Started, parse_batch, raw_records
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


class Pipeline:
    """The subscriber decodes each batch, hands it over and goes back to the broker; a writer applies what was handed
    over, in order: the batches that waited together in one transaction (at most `waiting`: the longer the queue, the
    larger the transaction), and a transaction's `Deferred.rest` and commit, if `apply` left one, while
    the next one begins, so the database works on two at once. After each commit it commits each partition's offset
    past the batches. A failure rolls back whatever is open; after the consumer's pause those batches are written
    again, in order, and nothing after them is committed meanwhile. Before a rebalance takes partitions away,
    everything handed over is written and committed."""

    def __init__(self, consumer: Consumer, *, waiting: int) -> None:
        self.consumer = consumer
        self.queue: asyncio.Queue[Decoded] = asyncio.Queue(maxsize=waiting)
        self.kafka: AIOKafkaConsumer | None = None  # the subscriber's, once it runs

    async def put(self, records: Sequence[Record]) -> None:
        await self.queue.put(await self.consumer.decoded(records))

    async def run(self) -> None:
        """The writer, until cancelled."""
        again: list[list[Decoded]] = []  # taken, to be written (again) before anything else
        started: Started | None = None  # begun, to be finished
        while True:
            if started is None:
                batches = again.pop(0) if again else await self._take()
                started = await self._start(batches)
                if started is None:
                    again.insert(0, batches)
                    await asyncio.sleep(self.consumer.retry_seconds)
                continue
            following = None  # the next transaction begins while this one finishes only if it has a rest to run:
            if started.rest is not None:  # else it could read this one's rows before they are committed
                following = again.pop(0) if again else self._take_waiting()
            if following is None:
                finished, next_started = await self._finish(started), None
            else:
                finished, next_started = await asyncio.gather(self._finish(started), self._start(following))
            if not finished:  # everything open is rolled back, and written again in order after the pause
                if next_started is not None:
                    await self.consumer.abort(next_started)
                again[:0] = [list(started.batches), *([following] if following is not None else [])]
                started = None
                await asyncio.sleep(self.consumer.retry_seconds)
                continue
            await self._commit(list(started.batches))
            for _ in started.batches:
                self.queue.task_done()
            if following is not None and next_started is None:
                again.insert(0, following)
            started = next_started

    async def _take(self) -> list[Decoded]:
        """The next batch handed over, once there is one, and those waiting behind it."""
        taken = [await self.queue.get()]
        return self._more(taken)

    def _take_waiting(self) -> list[Decoded] | None:
        return None if self.queue.empty() else self._more([self.queue.get_nowait()])

    def _more(self, taken: list[Decoded]) -> list[Decoded]:
        while not self.queue.empty():
            taken.append(self.queue.get_nowait())
        return taken

    async def _finish(self, started: Started) -> bool:
        try:
            await self.consumer.finish(started)
        except Exception:  # transient: `finish` has logged, counted and rolled back
            return False
        return True

    async def _start(self, batches: list[Decoded]) -> Started | None:
        try:
            return await self.consumer.start(batches)
        except Exception:  # transient: `start` has logged, counted and rolled back
            return None

    async def _commit(self, batches: list[Decoded]) -> None:
        """Commit each partition's offset past the batches, but of a partition read again from further back since
        they were fetched (the broker check rewinds consumers when the broker lost its topics): its next batches
        commit it."""
        if self.kafka is None:
            return
        last: dict[tuple[str, int], int] = {}
        for batch in batches:
            last |= batch.ends
        try:
            offsets = {}
            mine = self.kafka.assignment()  # a partition given away since: its next owner reads these again
            for (topic, partition), offset in last.items():
                tp = TopicPartition(topic, partition)
                if tp in mine and await self.kafka.position(tp) > offset:
                    offsets[tp] = offset + 1
            if offsets:
                await self.kafka.commit(offsets)
        except KafkaError as error:  # a rebalance gave the partitions to another consumer
            log.warning(
                "offsets not committed (%s): the partitions' next owner reads these records again, and applying "
                "them again changes nothing",
                type(error).__name__,
            )


class _WriteBeforeRevoking(ConsumerRebalanceListener):
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def on_partitions_revoked(self, revoked: object) -> None:
        await self.pipeline.queue.join()

    async def on_partitions_assigned(self, assigned: object) -> None:
        pass


def pipelined_subscriber(
    router: KafkaRouter,
    settings: ServiceSettings,
    consumer: Consumer,
    *topics: str,
    group_suffix: str = "",
    waiting: int = 1,
) -> Pipeline:
    """How every consumer of the suite subscribes: in batches from the earliest offset, in the service's group,
    written by the returned pipeline (run its `run` while the service is up), which commits the offsets after each
    transaction. `waiting`: batches handed over that may wait for the writer, the most one transaction takes (each
    batch holds its events in memory until its transaction commits)."""
    pipeline = Pipeline(consumer, waiting=waiting)
    subscriber = router.subscriber(
        *topics,
        group_id=settings.consumer_group + group_suffix,
        batch=True,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=50,
        max_partition_fetch_bytes=256 * 1024,
        auto_offset_reset="earliest",
        session_timeout_ms=round(settings.consumer_session_seconds * 1000),
        heartbeat_interval_ms=round(settings.consumer_session_seconds * 1000 / 3),
        ack_policy=AckPolicy.MANUAL,  # the pipeline commits, once the batch's transaction has committed
        listener=_WriteBeforeRevoking(pipeline),
        parser=parse_batch,
        decoder=raw_records,
        include_in_schema=False,  # raw records; the publishers document the event schemas
    )

    @subscriber
    async def on_records(records: list[Record]) -> None:
        pipeline.kafka = subscriber.consumer
        await pipeline.put(records)

    return pipeline
