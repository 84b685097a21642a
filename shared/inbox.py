"""The inbox: the ids of events a service has applied, written in the same transaction as their effect."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Event


def inbox_table(metadata: MetaData) -> Table:
    """The inbox, in the schema of the service that owns `metadata`."""
    return Table(
        "inbox",
        metadata,
        Column("event_id", Text, primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


_CLAIM = text(
    "INSERT INTO inbox (event_id) SELECT unnest(CAST(:ids AS text[])) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)


async def claim(session: AsyncSession, events: Sequence[Event]) -> list[Event]:
    """The events not applied before, each once, in their original order; the caller applies them now."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    if not unique:
        return []
    fresh = set((await session.execute(_CLAIM, {"ids": list(unique)})).scalars())
    return [e for e in unique.values() if e.id in fresh]
