"""Reporting's subscribers: the five event types and aftercare's intake feed the views."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaRouter
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.cache import ReadCache, views_changed
from services.reporting.db import consumer_sessions
from services.reporting.projections import (
    CONSUMED_TYPES,
    apply_facts,
    mark_fresh,
    merge_totals,
    stage_totals,
    unknown_unit,
)
from shared.consumer import Applied, Consumer
from shared.events import EVENT_TOPICS, Event
from shared.pipeline import Pipeline, pipelined_subscriber
from shared.runtime import Runtime

#: The topics it consumes (without the deployment's prefix).
TOPICS = [EVENT_TOPICS[t] for t in CONSUMED_TYPES]


def build_router(runtime: Runtime, cache: ReadCache) -> tuple[KafkaRouter, Pipeline]:
    """The subscriber of the event topics, and the pipeline that writes what it takes (to run while the service is
    up): reporting writes a batch while the next is fetched and decoded."""

    def after_commit(applied: list[Event]) -> None:
        mark_fresh(runtime.metrics, applied)
        if applied:
            cache.changed()

    schema = runtime.settings.db_schema

    async def apply(session: AsyncSession, events: list[Event]) -> Applied | list[Event]:
        """The facts and the totals' rows staged now; the rows added to the views while the next batch's facts are
        written (those touch no view row). Staging belongs here: merging is the longer half."""
        applied, contributions = await apply_facts(session, events)
        if applied:
            await views_changed(session, schema)  # other replicas' caches, on commit
        if not contributions.rows:
            return applied
        await stage_totals(session, contributions)
        return Applied(applied, partial(merge_totals, session))

    consumer = Consumer(
        consumer_sessions(runtime.engine, schema),
        apply,
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=unknown_unit,
        after_commit=after_commit,
        inbox=False,  # the views' own keys find duplicates (projections.py)
    )
    router = KafkaRouter()
    # Transactions of up to six fetches: the upsert of the totals is the longer half of the pipeline, and the larger
    # the batch, the more of its events share a row of a day at province and VN level (1,000 records a transaction:
    # 22,064 to 22,665 events/s in the bench; 4,000: 27,215 to 29,148). Each waiting batch holds its events (about
    # 1.2 KB each) until its transaction commits: eight fetches were faster still, but left the service at 175 to 193
    # MiB of its 200 (README, "Performance").
    return router, pipelined_subscriber(router, runtime.settings, consumer, *TOPICS, waiting=6)
