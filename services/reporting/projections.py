"""Applying events to the views: order-independent increments, summed in memory, upserted in one statement."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shared import units
from shared.events import AdmittedEvent, Event
from shared.observability import Metrics

Key = tuple[str, str, date]  # indicator_id, unit, first day of the month


def apply_admitted(event: AdmittedEvent, totals: Counter[Key]) -> None:
    month = event.data.admitted_on.replace(day=1)
    for unit in units.rollup(event.data.unit):
        totals[(f"admissions.{event.data.modality}", unit, month)] += 1
        totals[("admissions.total", unit, month)] += 1


def unknown_unit(event: Event) -> tuple[str, str] | None:
    """`Consumer` check: an event whose ward is not a current ward cannot be placed in the roll-up."""
    if isinstance(event, AdmittedEvent) and not units.is_ward(event.data.unit):
        return "unknown_unit", f"data.unit: {event.data.unit} is not a current commune/ward code"
    return None


_UPSERT = text(
    """
    INSERT INTO indicator_totals (indicator_id, unit, month, value)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:units AS text[]), CAST(:months AS date[]),
                         CAST(:values AS bigint[]))
    ON CONFLICT (indicator_id, unit, month) DO UPDATE SET value = indicator_totals.value + EXCLUDED.value
    """
)


async def apply_events(session: AsyncSession, events: list[Event]) -> None:
    totals: Counter[Key] = Counter()
    for event in events:
        if isinstance(event, AdmittedEvent):
            apply_admitted(event, totals)
    if totals:
        keys = sorted(totals)  # one lock order for every replica: no deadlocks between them
        await session.execute(
            _UPSERT,
            {
                "ids": [k[0] for k in keys],
                "units": [k[1] for k in keys],
                "months": [k[2] for k in keys],
                "values": [totals[k] for k in keys],
            },
        )


# Operations hook (issue 5): how fresh each view is, for `hoinhap_view_newest_event_timestamp_seconds`.
#: The views one batch's transaction brings up to date.
VIEWS = ("indicator_totals",)


def mark_fresh(metrics: Metrics, applied: list[Event]) -> None:
    """`Consumer` after-commit hook: every view now includes the newest of the events just applied."""
    if applied:
        newest = max(e.time for e in applied).timestamp()
        for view in VIEWS:
            metrics.view_applied(view, newest)
