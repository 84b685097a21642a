"""A rebuild's replaying processes: one core each, as the replay is bound by Python, not by the database.

Each takes the partitions of one number on every topic. Records are keyed by subject, so when the topics have as
many partitions each, one subject's events all go to one process and no two processes touch one episode (with
uneven topics, one process replays them all).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.reporting.settings import Settings
from services.reporting.write.replay import Progress, Replay, Report
from services.reporting.write.shadow import Staging, shadow_of
from shared.database import create_engine, sessions
from shared.runtime import tune_gc

#: What a process sends: its share, then its counts (read, applied, rejected), None when done, or its error.
Update = tuple[int, tuple[int, int, int] | None, str | None]


def _how_many(settings: Settings, partitions: list[TopicPartition], topics: list[str]) -> int:
    """The configured number of processes, at most a topic's partitions; one when the topics' partitions differ."""
    counts = {len([p for p in partitions if p.topic == topic]) for topic in topics}
    return max(1, min(settings.rebuild_processes, *counts)) if len(counts) == 1 else 1


async def replay_in_processes(
    replay: Replay,
    settings: Settings,
    topics: list[str],
    partitions: list[TopicPartition],
    until: dict[TopicPartition, int],
    progress: Progress,
) -> None:
    """Replay the partitions up to `until` in processes, adding up their progress as they report it; the first that
    fails fails the rebuild."""
    n = _how_many(settings, partitions, topics)
    context = multiprocessing.get_context("spawn")  # not fork: this process runs an event loop and threads
    updates: multiprocessing.Queue[Update] = context.Queue()
    workers = []
    for share in range(n):
        mine = {p: until[p] for p in partitions if p.partition % n == share}
        args = (settings, share, mine, replay.batch_size, replay.flush_every, updates)
        workers.append(context.Process(target=_replay_share, args=args, daemon=True, name=f"rebuild-{share}"))
    for worker in workers:
        worker.start()
    try:
        await _gather(updates, workers, progress, replay.report)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            await asyncio.to_thread(worker.join)


async def _gather(
    updates: multiprocessing.Queue[Update],
    workers: Sequence[multiprocessing.process.BaseProcess],
    progress: Progress,
    report: Report,
) -> None:
    """The processes' counts summed into `progress` (reported about once a second) until every one is done."""
    done: set[int] = set()
    counted_by: dict[int, tuple[int, int, int]] = {}
    reported = time.monotonic()
    while len(done) < len(workers):
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
        progress.read, progress.applied, progress.rejected = (sum(c) for c in zip(*counted_by.values(), strict=True))
        if time.monotonic() - reported >= 1.0:
            report(progress)
            reported = time.monotonic()


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

        def report(progress: Progress) -> None:
            updates.put((share, (progress.read, progress.applied, progress.rejected), None))

        replay = Replay(settings.topic_prefix, batch_size, flush_every, report)
        asyncio.run(_replay_partitions(settings, replay, until, partial(updates.put, (share, None, None))))
    except BaseException as error:
        updates.put((share, None, f"{type(error).__name__}: {error}"))
        raise


async def _replay_partitions(
    settings: Settings, replay: Replay, until: dict[TopicPartition, int], done: Callable[[], None]
) -> None:
    """In a replaying process: these partitions from the beginning to `until`, totals staged; then `done`."""
    schema = shadow_of(settings.db_schema)
    shadow = create_engine(settings.database_url.get_secret_value(), schema)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    tune_gc()
    try:
        progress = Progress(total=0, started=time.monotonic())  # the rebuild adds up the processes' counts
        if until:
            consumer.assign(list(until))
            await consumer.seek_to_beginning(*until)
            staging = Staging(shadow, schema)
            await replay.run(consumer, until, sessions(shadow), progress, staging.add)
            await staging.settled()
        replay.report(progress)
        done()
    finally:
        await consumer.stop()
        await shadow.dispose()


def exit_with_parent() -> None:
    """Wait for this process's parent to end and end too: a rebuild killed outright (`daemon` covers only a parent
    that exits normally) leaves no process replaying into a shadow schema that the next rebuild drops."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)
