"""`hoinhap reporting rebuild`: replay the topics from the beginning into fresh tables, then swap them in.

1. A shadow schema (`<schema>_rebuild`) is created afresh and migrated, its secondary indexes dropped (built once
   after the replay, not row by row); the topics are read from the beginning (no consumer group) up to the end
   offsets taken at the start, through the same projection as the service, in several processes (one core each:
   the replay is bound by Python, not by the database), each taking the partitions of one number on every topic.
   Records are keyed by subject, so when the topics have as many partitions each, one subject's events all go to
   one process and no two processes touch one episode (with uneven topics, one process replays them all). In
   each, reading and decoding the next batch overlaps the database's work on the one before (a queue of two
   batches between them). The facts (episodes, transfers, inbox) are upserted as the service does; the totals,
   summed in memory over many batches at ward level, are appended with COPY to unindexed staging tables (on a
   second connection, while the replay goes on), and once every process is done, rolled up to province and VN
   and summed into the views in one statement each, their keys built after: no index probe or row lock per cell,
   and the rate does not fall as the tables outgrow the database's buffers. The shadow tables are unlogged while
   they fill (a crash loses only the rebuild), and made durable before the swap (the totals before they are
   filled, so each of their rows reaches the WAL once).
2. Then, holding the rebuild lock exclusively (each batch of the running service takes it shared, so the
   service finishes its batch in flight and waits), it reads on to the end offsets of that moment, and in one
   transaction moves the live views and inbox aside and the rebuilt ones in. Reads go on throughout; they wait
   only for the swap's moment. The swapped-in inbox holds exactly the events the new views contain, so the
   service, resuming from its committed offsets, skips what the rebuild applied and applies what came after.
Targets, tokens and the audit log are not rebuilt: they stay where they are.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from asyncpg.exceptions import DeadlockDetectedError
from sqlalchemy import Index, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.schema import CreateIndex

from services.reporting.cache import views_changed
from services.reporting.db import rebuild_lock
from services.reporting.models import DAILY_FIGURES, REBUILT, column_of, metadata
from services.reporting.projections import CONSUMED_TYPES, Contributions, apply_facts, unknown_unit, write_totals
from services.reporting.settings import MIGRATIONS, Settings
from shared.consumer import Record, Rejection, decode
from shared.database import create_engine, migrate, sessions
from shared.events import EVENT_TOPICS, Event
from shared.runtime import tune_gc

log = logging.getLogger(__name__)


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


def _secondary_indexes() -> list[Index]:
    return [index for table in REBUILT for index in metadata.tables[table].indexes]


def _print(progress: Progress) -> None:
    print(f"rebuild: {progress}", flush=True)


class Rebuild:
    def __init__(
        self,
        settings: Settings,
        *,
        batch_size: int = 10_000,
        flush_every: int = 50_000,
        writers: int = 2,
        report: Report = _print,
    ) -> None:
        self.settings = settings
        self.flush_every = flush_every
        self.writers = writers
        self.live = settings.db_schema
        self.shadow = f"{settings.db_schema}_rebuild"
        self.batch_size = batch_size
        self.report = report
        self.topics = [settings.topic_prefix + EVENT_TOPICS[t] for t in CONSUMED_TYPES]

    async def run(self) -> Progress:
        url = self.settings.database_url.get_secret_value()
        live, shadow = create_engine(url, self.live), create_engine(url, self.shadow)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        tune_gc()
        try:
            await migrate(live, self.live, MIGRATIONS)  # a rebuild may come first, before the service ever ran
            await self._fresh_shadow(shadow)
            partitions = await self._assign(consumer)
            start = await consumer.beginning_offsets(partitions)
            end = await consumer.end_offsets(partitions)
            progress = Progress(total=sum(end[p] - start[p] for p in partitions), started=time.monotonic())
            async with _Staging(shadow, self.shadow):
                await self._replay_in_processes(partitions, end, progress)
                for partition in partitions:  # the catch-up goes on from where the replaying processes stopped
                    consumer.seek(partition, end[partition])
                self._enter(progress, "summing the staged totals into the views")
            self._enter(progress, "making the tables durable, building indexes, analyzing")
            await self._index(shadow)
            self._enter(progress, "catching up under the lock, swapping")
            async with live.connect() as conn:
                await self._catch_up_and_swap(conn, consumer, partitions, sessions(shadow), progress)
            self._enter(progress, "swapped")
            return progress
        finally:
            await consumer.stop()
            await live.dispose()
            await shadow.dispose()

    def _enter(self, progress: Progress, phase: str) -> None:
        progress.phase = phase
        self.report(progress)

    async def _replay_in_processes(
        self, partitions: list[TopicPartition], until: dict[TopicPartition, int], progress: Progress
    ) -> None:
        """Replay the partitions in the configured number of processes (one when the topics' partitions are uneven),
        adding up their progress as they report it; the first that fails fails the rebuild."""
        counts = {len([p for p in partitions if p.topic == topic]) for topic in self.topics}
        n = max(1, min(self.settings.rebuild_processes, *counts)) if len(counts) == 1 else 1
        context = multiprocessing.get_context("spawn")  # not fork: this process runs an event loop and threads
        updates: multiprocessing.Queue[tuple[int, tuple[int, int, int] | None, str | None]] = context.Queue()
        workers = []
        for share in range(n):
            mine = {p: until[p] for p in partitions if p.partition % n == share}
            args = (self.settings, share, mine, self.batch_size, self.flush_every, updates)
            workers.append(context.Process(target=_replay_share, args=args, daemon=True, name=f"rebuild-{share}"))
        for worker in workers:
            worker.start()
        done: set[int] = set()
        counted_by: dict[int, tuple[int, int, int]] = {}
        reported = time.monotonic()
        try:
            while len(done) < n:
                try:
                    share, counted, error = await asyncio.to_thread(updates.get, True, 1.0)
                except queue.Empty:
                    if dead := [w.name for w in workers if w.exitcode not in (None, 0)]:
                        raise RuntimeError(f"rebuild: replaying process {dead} died") from None
                    continue
                if error is not None:
                    raise RuntimeError(f"rebuild: replaying share {share} failed: {error}")
                if counted is None:
                    done.add(share)
                    continue
                counted_by[share] = counted
                progress.read, progress.applied, progress.rejected = (
                    sum(c) for c in zip(*counted_by.values(), strict=True)
                )
                if time.monotonic() - reported >= 1.0:
                    self.report(progress)
                    reported = time.monotonic()
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
                await asyncio.to_thread(worker.join)

    async def _replay_share(
        self, share: int, until: dict[TopicPartition, int], updates: multiprocessing.Queue[Any]
    ) -> None:
        """In a replaying process: these partitions from the beginning to `until`, totals staged."""
        url = self.settings.database_url.get_secret_value()
        shadow = create_engine(url, self.shadow)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        tune_gc()
        try:
            progress = Progress(total=0, started=time.monotonic())  # the rebuild adds up the processes' counts
            self.report = lambda p: updates.put((share, (p.read, p.applied, p.rejected), None))
            if until:
                consumer.assign(list(until))
                await consumer.seek_to_beginning(*until)
                staging = _Staging(shadow, self.shadow)
                await self._replay(consumer, until, sessions(shadow), progress, staging.add)
                await staging.settled()
            self.report(progress)
            updates.put((share, None, None))
        finally:
            await consumer.stop()
            await shadow.dispose()

    async def _fresh_shadow(self, shadow: AsyncEngine) -> None:
        async with shadow.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.shadow}" CASCADE'))
        await migrate(shadow, self.shadow, MIGRATIONS)
        async with shadow.begin() as conn:
            for index in _secondary_indexes():
                await conn.execute(text(f'DROP INDEX "{self.shadow}"."{index.name}"'))
            for table in REBUILT:  # no WAL while replaying: a rebuild that fails starts again from nothing
                await conn.execute(text(f'ALTER TABLE "{self.shadow}"."{table}" SET UNLOGGED'))

    async def _index(self, shadow: AsyncEngine) -> None:
        """Make the tables durable (written to the WAL once each, in bulk), build the secondary indexes and gather
        the planner's statistics, before the lock is taken: the service waits only for the catch-up and the swap."""
        async with shadow.begin() as conn:
            for table in REBUILT:  # first: SET LOGGED rewrites a table and every index it has
                await conn.execute(text(f'ALTER TABLE "{self.shadow}"."{table}" SET LOGGED'))
            for index in _secondary_indexes():
                await conn.execute(CreateIndex(index))  # the shadow engine's search_path is the shadow schema
            for table in REBUILT:  # statistics now, or the first reads after the swap are planned blind
                await conn.execute(text(f'ANALYZE "{self.shadow}"."{table}"'))

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        partitions = [
            TopicPartition(topic, p) for topic in self.topics for p in sorted(await _partitions(consumer, topic))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        return partitions

    async def _replay(
        self,
        consumer: AIOKafkaConsumer,
        until: dict[TopicPartition, int],
        db: async_sessionmaker[AsyncSession],
        progress: Progress,
        flush: Flush,
    ) -> None:
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
                progress.read += batch.records
                progress.rejected += batch.rejected
                progress.applied += len(applied)
                if time.monotonic() - reported >= 1.0:
                    self.report(progress)
                    reported = time.monotonic()
            await flush(pending)
        finally:
            reader.cancel()

    def _upsert(self, db: async_sessionmaker[AsyncSession]) -> Flush:
        """The catch-up's flush: add the totals to the views (indexed by then) on several connections. Unlike the
        service, the facts and the totals need not commit together: a rebuild that fails starts again from nothing."""

        async def write(share: Contributions) -> None:
            async with db.begin() as session:
                await write_totals(session, share)

        async def flush(contributions: Contributions) -> None:
            await asyncio.gather(*(write(share) for share in contributions.split(self.writers)))

        return flush

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
            decoded = decode(record, self.settings.topic_prefix)
            problem = None if isinstance(decoded, Rejection) else unknown_unit(decoded)
            if isinstance(decoded, Rejection) or problem is not None:
                batch.rejected += 1
            else:
                batch.events.append(decoded)
            if n % 1000 == 0:
                await asyncio.sleep(0)  # let the applying side send its next statement
        return batch

    async def _catch_up_and_swap(
        self,
        conn: AsyncConnection,
        consumer: AIOKafkaConsumer,
        partitions: list[TopicPartition],
        db: async_sessionmaker[AsyncSession],
        progress: Progress,
    ) -> None:
        lock = {"name": rebuild_lock(self.live)}
        await conn.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), lock)
        await conn.commit()
        try:
            end = await consumer.end_offsets(partitions)
            progress.total = progress.read + sum([end[p] - await consumer.position(p) for p in partitions])
            await self._replay(consumer, end, db, progress, self._upsert(db))
            await self._swap(conn)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), lock)
            await conn.commit()

    async def _swap(self, conn: AsyncConnection, attempts: int = 5) -> None:
        """Move the live views aside and the rebuilt ones in, in one transaction; readers wait only for it."""
        old = f"{self.live}_replaced"
        for attempt in range(1, attempts + 1):
            try:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{old}" CASCADE'))
                await conn.execute(text(f'CREATE SCHEMA "{old}"'))
                tables = ", ".join(f'"{self.live}"."{t}"' for t in REBUILT)
                await conn.execute(text(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
                for table in REBUILT:
                    await conn.execute(text(f'ALTER TABLE "{self.live}"."{table}" SET SCHEMA "{old}"'))
                for table in REBUILT:
                    await conn.execute(text(f'ALTER TABLE "{self.shadow}"."{table}" SET SCHEMA "{self.live}"'))
                await conn.execute(text(f'DROP SCHEMA "{old}" CASCADE'))
                await conn.execute(text(f'DROP SCHEMA "{self.shadow}" CASCADE'))
                await views_changed(conn, self.live)
                await conn.commit()
                return
            except DBAPIError as error:
                await conn.rollback()
                if not isinstance(error.orig, DeadlockDetectedError) and "deadlock" not in str(error):
                    raise
                if attempt == attempts:
                    raise
                log.warning("swap met a deadlock with a reader; retrying")
                await asyncio.sleep(0.1 * attempt)


_SUMS = ", ".join(f"sum(s.{column_of(f)})::integer" for f in DAILY_FIGURES)
#: The staged rows are summed into the view in this many concurrent shares, split by unit.
_SHARES = 2


class _Staging:
    """Rows of `daily_totals` (every level) appended with COPY to an unindexed table beside it by each replaying
    process, one append in flight at a time (its replay goes on meanwhile); on the rebuild's clean exit, summed by
    key into the empty view, which is made durable first so each row is written to the WAL once; then dropped."""

    def __init__(self, engine: AsyncEngine, schema: str) -> None:
        self.engine, self.schema = engine, schema
        self.pending: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Staging:
        async with self.engine.begin() as conn:
            await conn.execute(text("CREATE UNLOGGED TABLE daily_staging (LIKE daily_totals)"))
        return self

    async def add(self, contributions: Contributions) -> None:
        await self.settled()
        self.pending = asyncio.create_task(self._copy(contributions))

    async def _copy(self, contributions: Contributions) -> None:
        rows = contributions.rows.values()
        async with self.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # an open asyncpg connection
            await raw.copy_records_to_table("daily_staging", records=rows, schema_name=self.schema)

    async def settled(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def __aexit__(self, kind: object, error: object, traceback: object) -> None:
        if error is not None:
            if self.pending is not None:
                self.pending.cancel()
            return
        async with self.engine.begin() as conn:
            await conn.execute(text('ALTER TABLE "daily_totals" SET LOGGED'))  # empty: nothing to rewrite
            await conn.execute(text('ALTER TABLE "daily_totals" DROP CONSTRAINT "daily_totals_pkey"'))
        await asyncio.gather(*(self._sum(share) for share in range(_SHARES)))
        async with self.engine.begin() as conn:  # one sort, not an index probe per row
            await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            await conn.execute(
                text('ALTER TABLE "daily_totals" ADD CONSTRAINT "daily_totals_pkey" PRIMARY KEY (unit, day, known_on)')
            )
            await conn.execute(text("DROP TABLE daily_staging"))

    async def _sum(self, share: int) -> None:
        """One share of the view's rows, on a connection of its own: the shares are split by unit, so no two shares
        write the same key."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SET LOCAL work_mem = '128MB'"))
            await conn.execute(
                text(
                    f"INSERT INTO daily_totals SELECT unit, day, known_on, {_SUMS} FROM daily_staging s "  # noqa: S608
                    "WHERE abs(hashtext(unit)) % :shares = :share GROUP BY 1, 2, 3"
                ),
                {"shares": _SHARES, "share": share},
            )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions; has the suite created its topics?")


def _replay_share(
    settings: Settings,
    share: int,
    until: dict[TopicPartition, int],
    batch_size: int,
    flush_every: int,
    updates: multiprocessing.Queue[Any],
) -> None:
    """A replaying process's entry point; what stops it is sent to the rebuild as well."""
    threading.Thread(target=exit_with_parent, daemon=True, name="exit-with-parent").start()
    try:
        rebuild = Rebuild(settings, batch_size=batch_size, flush_every=flush_every)
        asyncio.run(rebuild._replay_share(share, until, updates))
    except BaseException as error:
        updates.put((share, None, f"{type(error).__name__}: {error}"))
        raise


def exit_with_parent() -> None:
    """Wait for this process's parent to end and end too: a rebuild killed outright (`daemon` covers only a parent
    that exits normally) leaves no process replaying into a shadow schema that the next rebuild drops."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def main() -> int:
    """Entry point of `hoinhap reporting rebuild`."""
    settings = Settings()  # fields come from the environment, as for the service
    print(f"rebuild: replaying {settings.topic_prefix}rehab.* into {settings.db_schema}_rebuild", flush=True)
    progress = asyncio.run(Rebuild(settings).run())
    print(f"rebuild: done, swapped into {settings.db_schema}: {progress}", file=sys.stdout, flush=True)
    return 0
