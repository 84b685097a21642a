"""Telling every reporting process that the views changed: the NOTIFY the write side sends and the read cache hears.

It sits between the two halves because both use it: the consumer's batches, a rebuild's swap and a target set send
it (`views_changed`); each process's read cache listens on the schema's `channel`.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def channel(schema: str) -> str:
    """The NOTIFY channel of a schema's views: an identifier, so at most 63 bytes (a long schema name is hashed)."""
    name = f"hoinhap_views_{schema}"
    return name if len(name.encode()) <= 63 else f"hoinhap_views_{hashlib.sha256(schema.encode()).hexdigest()[:40]}"


async def views_changed(db: AsyncSession | AsyncConnection, schema: str) -> None:
    """Tell every reporting process, when this transaction commits, that reads of `schema` may have changed."""
    await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel(schema)})
