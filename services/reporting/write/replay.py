"""A rebuild's replay of some partitions: read and decoded up to given offsets, applied as the service applies them.

Reading and decoding the next batch overlaps the database's work on the one before (a queue of two batches between
them). The facts are written per batch; what the batches add to the totals is summed in memory over many of them
and handed to a `Flush` (staged in bulk while replaying, added to the views while catching up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.write.contributions import Contributions
from services.reporting.write.projections import apply_facts, unknown_unit
from shared.consumer import Record, Rejection, decode
from shared.events import Event


@dataclass
class Progress:
    """How far a rebuild has come: records read of those there were at the start, and how fast."""

    total: int
    read: int = 0
    applied: int = 0
    rejected: int = 0
    started: float = 0.0
    phase: str = "replaying"

    @property
    def rate(self) -> float:
        return self.read / max(time.monotonic() - self.started, 1e-9)

    def __str__(self) -> str:
        pct = 100.0 * self.read / self.total if self.total else 100.0
        return (
            f"{self.phase}: {self.read:,}/{self.total:,} records ({pct:.1f}% of the end offsets), "
            f"{self.rate:,.0f} events/s, {self.applied:,} applied, {self.rejected:,} rejected, "
            f"{time.monotonic() - self.started:.1f} s"
        )


Report = Callable[[Progress], None]
#: Where a replay puts what many batches add to the totals: staged in bulk, or added to the views.
Flush = Callable[[Contributions], Awaitable[None]]


@dataclass
class Batch:
    """One fetch, decoded: the events to apply, and how many records it held and were rejected."""

    records: int
    rejected: int = 0
    events: list[Event] = field(default_factory=list)


@dataclass
class Replay:
    """How a replay reads (`batch_size` records a fetch), how often it flushes the totals (every `flush_every`
    events applied) and whom it tells of its progress (about once a second)."""

    topic_prefix: str
    batch_size: int
    flush_every: int
    report: Report

    async def run(
        self,
        consumer: AIOKafkaConsumer,
        until: dict[TopicPartition, int],
        db: async_sessionmaker[AsyncSession],
        progress: Progress,
        flush: Flush,
    ) -> None:
        """Apply the assigned partitions from their position up to `until`, the totals flushed as they add up."""
        batches: asyncio.Queue[Batch | Exception | None] = asyncio.Queue(maxsize=2)
        reader = asyncio.create_task(self._read(consumer, until, batches))
        reported = time.monotonic()
        pending, held = Contributions(), 0
        try:
            while (batch := await batches.get()) is not None:
                if isinstance(batch, Exception):
                    raise batch
                async with db.begin() as session:
                    applied, _ = await apply_facts(session, batch.events, into=pending)
                held += len(applied)
                if held >= self.flush_every:
                    await flush(pending)
                    pending, held = Contributions(), 0
                _count(progress, batch, len(applied))
                if time.monotonic() - reported >= 1.0:
                    self.report(progress)
                    reported = time.monotonic()
            await flush(pending)
        finally:
            reader.cancel()

    async def _read(
        self,
        consumer: AIOKafkaConsumer,
        until: dict[TopicPartition, int],
        batches: asyncio.Queue[Batch | Exception | None],
    ) -> None:
        """Fetch and decode batches up to `until`, then None (or the error that stopped it); runs while the
        database applies the batch before."""
        try:
            while [p for p in until if await consumer.position(p) < until[p]]:
                fetched = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
                records = [r for batch in fetched.values() for r in batch]
                if records:
                    await batches.put(await self._decoded(records))
        except Exception as error:  # handed to the applying side, which raises it
            await batches.put(error)
            return
        await batches.put(None)

    async def _decoded(self, records: list[Record]) -> Batch:
        batch = Batch(records=len(records))
        for n, record in enumerate(records, start=1):
            decoded = decode(record, self.topic_prefix)
            problem = None if isinstance(decoded, Rejection) else unknown_unit(decoded)
            if isinstance(decoded, Rejection) or problem is not None:
                batch.rejected += 1
            else:
                batch.events.append(decoded)
            if n % 1000 == 0:
                await asyncio.sleep(0)  # let the applying side send its next statement
        return batch


def _count(progress: Progress, batch: Batch, applied: int) -> None:
    progress.read += batch.records
    progress.rejected += batch.rejected
    progress.applied += applied


async def assign_from_beginning(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, assigned to `consumer` (no consumer group) at its beginning."""
    partitions = [TopicPartition(topic, p) for topic in topics for p in sorted(await _partitions(consumer, topic))]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return partitions


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions; has the suite created its topics?")
