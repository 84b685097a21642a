"""The transactional outbox: events written with the state change they announce, published by a relay.

A published row is kept, marked with the time the broker acknowledged it, for a retention period: a broker that
loses what it held (a memory-only broker restarted, topics deleted) is given it again by `replay`."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import CONTENT_TYPE, Event, serialize, short_type, topic_of
from shared.observability import Metrics

log = logging.getLogger(__name__)

#: Sends one record (topic, key, value, headers); what it returns resolves once the broker has the record.
Send = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[Awaitable[object]]]


def outbox_table(metadata: MetaData) -> Table:
    """The outbox, in the schema of the service that owns `metadata`."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("event_type", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


async def add_to_outbox(session: AsyncSession, outbox: Table, *events: Event) -> None:
    """Stage events in the caller's transaction; they are published only if it commits."""
    if events:
        await session.execute(
            outbox.insert(),
            [{"event_id": e.id, "event_type": e.type, "subject": e.subject, "payload": serialize(e)} for e in events],
        )


class OutboxRelay:
    """Publishes the outbox in order and marks what the broker acknowledged; at-least-once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        send: Send,
        metrics: Metrics,
        *,
        topic_prefix: str,
        poll_seconds: float,
        batch_size: int = 1000,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.send = send
        self.metrics = metrics
        self.topic_prefix = topic_prefix
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Publish now rather than at the next poll (called after a commit that wrote to the outbox)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                published = await self.publish_pending()
            except Exception:  # a broker or database outage: keep the rows, try again later
                log.exception("outbox relay failed; retrying")
                published = 0
                await asyncio.sleep(self.poll_seconds)
            if published < self.batch_size:
                await self._idle()

    async def _idle(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch; rows are marked published only once the broker has them all."""
        o = self.outbox
        async with self.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(o.c.id, o.c.event_type, o.c.subject, o.c.payload)
                    .where(o.c.published_at.is_(None))
                    .order_by(o.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                headers = {"content-type": CONTENT_TYPE}
                event_types = [r.event_type for r in rows]
                try:
                    sent = [
                        await self.send(
                            topic_of(r.event_type, self.topic_prefix), r.subject.encode(), r.payload, headers
                        )
                        for r in rows
                    ]
                    await asyncio.gather(*sent)
                except Exception:
                    self._count(event_types, "failed")
                    raise
                published = update(o).where(o.c.id.in_([r.id for r in rows])).values(published_at=func.now())
                await session.execute(published)
                self._count(event_types, "acknowledged")
        return len(rows)

    async def replay(self) -> int:
        """Publish again every row still retained (the broker lost them); consumers' inboxes skip what they had."""
        o = self.outbox
        async with self.sessions.begin() as session:
            replayed = await session.execute(
                update(o).where(o.c.published_at.is_not(None)).values(published_at=None).returning(o.c.id)
            )
            n = len(replayed.all())
        self.wake()
        return n

    async def purge(self, retention_days: float) -> int:
        """Forget rows published more than `retention_days` ago; they can no longer be replayed."""
        o = self.outbox
        cutoff = func.now() - timedelta(days=retention_days)
        async with self.sessions.begin() as session:
            purged = await session.execute(o.delete().where(o.c.published_at < cutoff).returning(o.c.id))
            return len(purged.all())

    def _count(self, event_types: list[str], result: str) -> None:
        for event_type, n in Counter(map(short_type, event_types)).items():
            self.metrics.published.labels(event_type, result).inc(n)

    async def measure(self) -> None:
        """Set the backlog gauges from the table itself, so they tell the truth even when the relay is stuck."""
        o = self.outbox
        async with self.sessions() as session:
            backlog, oldest = (
                await session.execute(
                    select(func.count(), func.extract("epoch", func.now() - func.min(o.c.created_at))).where(
                        o.c.published_at.is_(None)
                    )
                )
            ).one()
        self.metrics.outbox_backlog.set(backlog)
        self.metrics.outbox_oldest_age.set(float(oldest or 0))
