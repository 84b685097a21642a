"""Reporting's Kafka handling: a batch of the five event types and aftercare's intake, applied to the views."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaRouter
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.changes import views_changed
from services.reporting.read.cache import ReadCache
from services.reporting.write.db import consumer_sessions, merge_totals, stage_totals
from services.reporting.write.projections import CONSUMED_TYPES, apply_facts, mark_fresh, unknown_unit
from shared.consumer import Applied, Consumer
from shared.events import EVENT_TOPICS, Event
from shared.pipeline import Pipeline, pipelined_subscriber
from shared.runtime import Runtime

#: The topics it consumes (without the deployment's prefix).
TOPICS = [EVENT_TOPICS[t] for t in CONSUMED_TYPES]


async def on_events(session: AsyncSession, events: list[Event], *, schema: str) -> Applied | list[Event]:
    """A batch's facts and its rows of the totals staged now; the rows added to the views while the next batch's
    facts are written (those touch no view row). Staging belongs here: merging is the longer half."""
    applied, contributions = await apply_facts(session, events)
    if applied:
        await views_changed(session, schema)  # other replicas' caches, on commit
    if not contributions.rows:
        return applied
    await stage_totals(session, contributions.rows.values())
    return Applied(applied, partial(merge_totals, session))


def build_router(runtime: Runtime, cache: ReadCache) -> tuple[KafkaRouter, Pipeline]:
    """The subscriber of the event topics, and the pipeline that writes what it takes (to run while the service is
    up): reporting writes a batch while the next is fetched and decoded."""

    def after_commit(applied: list[Event]) -> None:
        mark_fresh(runtime.metrics, applied)
        if applied:
            cache.changed()

    schema = runtime.settings.db_schema
    consumer = Consumer(
        consumer_sessions(runtime.engine, schema),
        partial(on_events, schema=schema),
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=unknown_unit,
        after_commit=after_commit,
        inbox=False,  # the views' own keys find duplicates (write/projections.py)
    )
    router = KafkaRouter()
    # Transactions of up to six fetches: the upsert of the totals is the longer half of the pipeline, and the larger
    # the batch, the more of its events share a row of a day at province and VN level. Each waiting batch holds its
    # events (about 1.2 KB each) until it commits: eight fetches were faster still but left too little of the
    # service's 200 MiB (docs/performance.md).
    return router, pipelined_subscriber(router, runtime.settings, consumer, *TOPICS, waiting=6)
