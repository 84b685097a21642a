"""Reporting's Kafka handling: a batch of the five event types and aftercare's intake, applied to the views."""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.changes import views_changed
from services.reporting.read.cache import ReadCache
from services.reporting.write.db import consumer_sessions, merge_totals, stage_totals
from services.reporting.write.projections import CONSUMED_TYPES, apply_facts, mark_fresh, unknown_unit
from shared.consumer import Deferred
from shared.events import EVENT_TOPICS, Event
from shared.observability import Metrics
from shared.pipeline import Pipeline
from shared.runtime import Runtime

#: The topics it consumes (without the deployment's prefix).
TOPICS = [EVENT_TOPICS[t] for t in CONSUMED_TYPES]
#: Transactions of up to six fetches: the upsert of the totals is the longer half of the pipeline, and the larger
#: the batch, the more of its events share a row of a day at province and VN level. Each waiting batch holds its
#: events (about 1.2 KB each) until it commits: eight fetches were faster still but left too little of the
#: service's 200 MiB (docs/performance.md).
WAITING = 6


async def on_events(session: AsyncSession, events: list[Event], *, schema: str) -> Deferred | list[Event]:
    """A batch's facts and its rows of the totals staged now; the rows added to the views while the next batch's
    facts are written (those touch no view row). Staging belongs here: merging is the longer half."""
    applied, contributions = await apply_facts(session, events)
    if applied:
        await views_changed(session, schema)  # other replicas' caches, on commit
    if not contributions.rows:
        return applied
    await stage_totals(session, contributions.rows.values())
    return Deferred(applied, partial(merge_totals, session))


def after_commit(metrics: Metrics, cache: ReadCache, applied: list[Event]) -> None:
    """The views now hold these events: their freshness moves, and this process's rendered reads are stale."""
    mark_fresh(metrics, applied)
    if applied:
        cache.changed()


def subscribe(runtime: Runtime, cache: ReadCache) -> Pipeline:
    """Consume the topics into the views while the service is up, writing a batch while the next is fetched and
    decoded; the views' own keys find duplicates (write/projections.py), so no inbox row per event."""
    schema = runtime.settings.db_schema
    return runtime.subscribe(
        TOPICS,
        partial(on_events, schema=schema),
        check=unknown_unit,
        after_commit=partial(after_commit, runtime.metrics, cache),
        sessions=consumer_sessions(runtime.engine, schema),
        inbox=False,
        waiting=WAITING,
    )
