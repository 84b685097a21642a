"""`hoinhap reporting rebuild`: replay the topics from the beginning into fresh tables, then swap them in.

1. A shadow schema (`<schema>_rebuild`) is created afresh and migrated (`shadow.py`); the topics are read from the
   beginning (no consumer group) up to the end offsets taken at the start, through the same projection as the
   service, in several processes (`processes.py`, `replay.py`). The facts (episodes, transfers, inbox) are upserted
   as the service does; the totals, summed in memory over many batches, are appended with COPY to unindexed staging
   tables (on a second connection, while the replay goes on), and once every process is done, summed into the views
   in one statement each, their keys built after. The shadow tables are unlogged while they fill (a crash loses
   only the rebuild), and made durable before the swap (the totals before they are filled, so each of their rows
   reaches the WAL once).
2. Then, holding the rebuild lock exclusively (each batch of the running service takes it shared, so the
   service finishes its batch in flight and waits), it reads on to the end offsets of that moment, and in one
   transaction moves the live views and inbox aside and the rebuilt ones in. Reads go on throughout; they wait
   only for the swap's moment. The swapped-in inbox holds exactly the events the new views contain, so the
   service, resuming from its committed offsets, skips what the rebuild applied and applies what came after.
Targets, tokens and the audit log are not rebuilt: they stay where they are.
Before anything is written, the rebuild makes sure the topics hold the whole history: it refuses (unless told to
accept it) when records were deleted from the start of a partition or the broker would delete some (a finite
retention), since views replayed from them would lack those events.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.reporting.settings import MIGRATIONS, Settings
from services.reporting.write import shadow
from services.reporting.write.contributions import Contributions
from services.reporting.write.db import rebuild_lock_held, write_totals
from services.reporting.write.processes import replay_in_processes
from services.reporting.write.projections import CONSUMED_TYPES
from services.reporting.write.replay import Flush, Progress, Replay, Report, assign_from_beginning
from shared.database import create_engine, migrate, sessions
from shared.events import EVENT_TOPICS
from shared.runtime import tune_gc
from shared.settings import load
from shared.topics import Retention, retention_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    """What the topics lack of the history a rebuild replays: records deleted from their start (the earliest
    offsets summed, per topic) and the topics the broker would delete records of."""

    deleted: dict[str, int]
    expiring: list[Retention]

    @property
    def whole(self) -> bool:
        return not self.deleted and not self.expiring

    def __str__(self) -> str:
        retention = {r.topic: str(r) for r in self.expiring}
        return "; ".join(
            f"{topic}: {self.deleted.get(topic, 0):,} records deleted from its start, "
            f"{retention.get(topic, 'retention for ever')}"
            for topic in sorted({*self.deleted, *retention})
        )


class HistoryTruncatedError(Exception):
    """The topics no longer hold every record, or would not for long: views replayed from them would lack events."""

    def __init__(self, history: History) -> None:
        super().__init__(f"the topics do not hold the whole history: {history}")
        self.history = history


def deleted_records(earliest: Mapping[TopicPartition, int]) -> dict[str, int]:
    """Records gone from the start of each topic that lost some: a partition's earliest offset is how many."""
    deleted: dict[str, int] = {}
    for partition, offset in earliest.items():
        if offset > 0:
            deleted[partition.topic] = deleted.get(partition.topic, 0) + offset
    return deleted


def _print(progress: Progress) -> None:
    print(f"rebuild: {progress}", flush=True)


class Rebuild:
    """One rebuild of a deployment's views (its settings as the service's): `run` it once."""

    def __init__(
        self,
        settings: Settings,
        *,
        batch_size: int = 10_000,
        flush_every: int = 50_000,
        writers: int = 2,
        report: Report = _print,
        accept_truncated: bool = False,
    ) -> None:
        self.settings = settings
        self.accept_truncated = accept_truncated
        self.writers = writers
        self.live = settings.db_schema
        self.shadow = shadow.shadow_of(settings.db_schema)
        self.replay = Replay(settings.topic_prefix, batch_size, flush_every, report)
        self.topics = [settings.topic_prefix + EVENT_TOPICS[t] for t in CONSUMED_TYPES]

    async def run(self) -> Progress:
        url = self.settings.database_url.get_secret_value()
        live, rebuilt = create_engine(url, self.live), create_engine(url, self.shadow)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        tune_gc()
        try:
            partitions = await assign_from_beginning(consumer, self.topics)
            await self._check_history(consumer, partitions)
            await migrate(live, self.live, MIGRATIONS)  # a rebuild may come first, before the service ever ran
            await shadow.fresh_shadow(rebuilt, self.shadow)
            progress = await self._replay(consumer, partitions, rebuilt)
            self._enter(progress, "making the tables durable, building indexes, analyzing")
            await shadow.index(rebuilt, self.shadow)
            self._enter(progress, "catching up under the lock, swapping")
            async with live.connect() as conn:
                await self._catch_up_and_swap(conn, consumer, partitions, sessions(rebuilt), progress)
            self._enter(progress, "swapped")
            return progress
        finally:
            await consumer.stop()
            await live.dispose()
            await rebuilt.dispose()

    async def _check_history(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Refuse, before anything is written, to replay topics that lack part of the history (unless told)."""
        earliest = await consumer.beginning_offsets(partitions)
        retention = await retention_of(self.settings.kafka_bootstrap_servers, self.topics)
        history = History(deleted_records(earliest), [r for r in retention if r.finite])
        if history.whole:
            return
        if not self.accept_truncated:
            raise HistoryTruncatedError(history)
        log.warning("rebuilding from topics that lack part of the history, as told: %s", history)

    def _enter(self, progress: Progress, phase: str) -> None:
        progress.phase = phase
        self.replay.report(progress)

    async def _replay(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition], rebuilt: AsyncEngine
    ) -> Progress:
        """The partitions replayed in processes up to the end offsets of now, their totals staged and summed into
        the views; `consumer` left where they stopped, for the catch-up."""
        start = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        progress = Progress(total=sum(end[p] - start[p] for p in partitions), started=time.monotonic())
        async with shadow.Staging(rebuilt, self.shadow):
            await replay_in_processes(self.replay, self.settings, self.topics, partitions, end, progress)
            for partition in partitions:
                consumer.seek(partition, end[partition])
            self._enter(progress, "summing the staged totals into the views")
        return progress

    async def _catch_up_and_swap(
        self,
        conn: AsyncConnection,
        consumer: AIOKafkaConsumer,
        partitions: list[TopicPartition],
        db: async_sessionmaker[AsyncSession],
        progress: Progress,
    ) -> None:
        async with rebuild_lock_held(conn, self.live):
            end = await consumer.end_offsets(partitions)
            progress.total = progress.read + sum([end[p] - await consumer.position(p) for p in partitions])
            await self.replay.run(consumer, end, db, progress, self._upsert(db))
            await shadow.swap(conn, self.live, self.shadow)

    def _upsert(self, db: async_sessionmaker[AsyncSession]) -> Flush:
        """The catch-up's flush: add the totals to the views (indexed by then) on several connections. Unlike the
        service, the facts and the totals need not commit together: a rebuild that fails starts again from nothing."""

        async def write(share: Contributions) -> None:
            async with db.begin() as session:
                await write_totals(session, share.rows.values())

        async def flush(contributions: Contributions) -> None:
            await asyncio.gather(*(write(share) for share in contributions.split(self.writers)))

        return flush


def main(accept_truncated: bool = False) -> int:
    """Entry point of `hoinhap reporting rebuild`; `accept_truncated`: swap in views of what the topics still hold."""
    settings = load(Settings)  # fields come from the environment, as for the service
    print(f"rebuild: replaying {settings.topic_prefix}rehab.* into {settings.db_schema}_rebuild", flush=True)
    try:
        progress = asyncio.run(Rebuild(settings, accept_truncated=accept_truncated).run())
    except HistoryTruncatedError as error:
        print(f"rebuild: refused, the live views are untouched: {error}", file=sys.stderr)
        print(
            "rebuild: make the topics keep their records (`hoinhap topics fix`); to swap in views of what the "
            "topics still hold, pass --accept-truncated",
            file=sys.stderr,
        )
        return 1
    print(f"rebuild: done, swapped into {settings.db_schema}: {progress}", file=sys.stdout, flush=True)
    return 0
