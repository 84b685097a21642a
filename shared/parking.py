"""Parking: an event that follows something not yet seen (a `completed` before its `admitted`) waits in the
service's `parked_events` table, in the transaction that claimed it, and is applied in the transaction that
applies what it waits for. One left waiting past the configured time goes to the dead-letter topic as `unmatched`
(or as the service says for what it waited for: facility's admissions into a facility nobody registered are
`unknown_facility`).

A service applies a round of events at once (in bulk statements, not one event at a time) and says what became of
each: `Applied(releases=...)` names what other events may have been waiting for (`episode:<id>`, or a key of the
service's own such as `facility:<id>`),
`Wait(key)` parks the event until then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiokafka import ConsumerRecord
from alembic import op
from sqlalchemy import Column, DateTime, Index, LargeBinary, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.consumer import DeadLetters, Rejection
from shared.database import any_of
from shared.events import Event, parse_event, serialize, topic_of
from shared.observability import Metrics

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    """The event took effect (or had none to take); events waiting for any of `releases` are retried."""

    releases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wait:
    """The event cannot take effect until something about `key` has: park it."""

    key: str


#: Applies a round of events (unique ids, in their order) and returns the outcome of each, in the same order.
ApplyRound = Callable[[AsyncSession, list[Event]], Awaitable[list[Applied | Wait]]]


def episode(episode_id: str) -> str:
    """The parking key of everything that happens to one episode."""
    return f"episode:{episode_id}"


#: How an event that waited in vain is dead-lettered, by the start of what it waited for: (reason, detail).
Expiries = dict[str, tuple[str, str]]


def parked_events_table(metadata: MetaData) -> Table:
    """The parked events, in the schema of the service that owns `metadata`."""
    return Table(
        "parked_events",
        metadata,
        Column("event_id", Text, primary_key=True),
        Column("awaiting", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("parked_events_awaiting", "awaiting"),
    )


def create_parked_events_table() -> None:
    """Migration step of every service that parks. Frozen: change the table in a new revision."""
    op.create_table(
        "parked_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("awaiting", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("parked_events_awaiting", "parked_events", ["awaiting"])


#: Forgetting a dead-lettered event lets an operator replay it from the dead-letter topic once it can apply.
_FORGET = text("DELETE FROM inbox WHERE event_id = ANY(CAST(:ids AS text[]))")


class Parking:
    """Applies a service's events through `apply_round`, parking those that must wait; sweeps the expired out."""

    def __init__(
        self,
        table: Table,
        apply_round: ApplyRound,
        sessions: async_sessionmaker[AsyncSession],
        dead_letters: DeadLetters,
        metrics: Metrics,
        *,
        topic_prefix: str,
        timeout_seconds: float,
        sweep_seconds: float,
        after_sweep: Callable[[], None] = lambda: None,
        batch_size: int = 1000,
        expiries: Expiries | None = None,
    ) -> None:
        self.table = table
        self.expiries = expiries or {}
        self.apply_round = apply_round
        self.sessions = sessions
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.topic_prefix = topic_prefix
        self.timeout_seconds = timeout_seconds
        self.sweep_seconds = sweep_seconds
        self.after_sweep = after_sweep
        self.batch_size = batch_size
        self._retried: set[str] = set()  # parked events a sweep of this process has retried since they were parked

    @classmethod
    def of(cls, runtime: Runtime, table: Table, apply_round: ApplyRound, expiries: Expiries | None = None) -> Parking:
        """A service's parking as its settings configure it; a sweep that released events wakes the relay."""
        settings = runtime.settings
        return cls(
            table,
            apply_round,
            runtime.sessions,
            runtime.dead_letters,
            runtime.metrics,
            topic_prefix=settings.topic_prefix,
            timeout_seconds=settings.parking_timeout_seconds,
            sweep_seconds=settings.parking_sweep_seconds,
            after_sweep=runtime.relay.wake,
            expiries=expiries,
        )

    async def apply(self, session: AsyncSession, events: list[Event]) -> None:
        """`Consumer` apply: the batch's new events, then whatever they release, in the batch's transaction."""
        await self._settle(session, events, parked=False)
        await self._measure(session)

    async def release(self, session: AsyncSession, keys: Iterable[str]) -> None:
        """Retry, in the caller's transaction, the events waiting for `keys` (after a write outside a consumer)."""
        await self._settle(session, await self._awaiting(session, set(keys)), parked=True)
        await self._measure(session)

    async def _settle(self, session: AsyncSession, events: list[Event], *, parked: bool) -> None:
        """Apply round after round: a round's effects may release parked events, which the next round retries.
        It ends because an event leaves the table once applied, and only applied events release others."""
        while events:
            released: set[str] = set()
            waits: list[tuple[Event, str]] = []
            done: list[str] = []
            for event, outcome in zip(events, await self.apply_round(session, events), strict=True):
                if isinstance(outcome, Wait):
                    waits.append((event, outcome.key))
                else:
                    released.update(outcome.releases)
                    done.append(event.id)
            await self._park(session, waits, again=parked)
            if parked and done:
                await session.execute(self.table.delete().where(self.table.c.event_id == any_of(done)))
            events, parked = await self._awaiting(session, released), True

    async def _park(self, session: AsyncSession, waits: Sequence[tuple[Event, str]], *, again: bool) -> None:
        if not waits:
            return
        rows = [
            {"event_id": e.id, "awaiting": key, "event_type": e.type, "subject": e.subject, "payload": serialize(e)}
            for e, key in waits
        ]
        statement = insert(self.table)
        # Parked again: it may wait for something else now, but it has waited since it was first parked.
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["event_id"], set_={"awaiting": statement.excluded.awaiting}
            ),
            rows,
        )
        for e, key in () if again else waits:
            log.info("event parked until %s", key, extra={"event_id": e.id, "event_type": e.type})

    async def _awaiting(self, session: AsyncSession, keys: set[str]) -> list[Event]:
        if not keys:
            return []
        t = self.table
        payloads = await session.scalars(
            select(t.c.payload).where(t.c.awaiting == any_of(sorted(keys))).order_by(t.c.parked_at).with_for_update()
        )
        return [parse_event(p) for p in payloads]

    async def _measure(self, session: AsyncSession) -> None:
        self.metrics.parked.set(await session.scalar(select(func.count()).select_from(self.table)) or 0)

    async def sweep(self) -> int:
        """Retry each event parked since the last sweep once (another replica may have applied what it waits for
        while it was being parked), retry those parked longer than the timeout a last time, and dead-letter those
        still waiting; returns how many were dead-lettered."""
        t = self.table
        cutoff = func.clock_timestamp() - timedelta(seconds=self.timeout_seconds)
        async with self.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(t.c.event_id, t.c.payload, (t.c.parked_at < cutoff).label("expired"))
                    .order_by(t.c.parked_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            retry = [r.payload for r in rows if r.expired or r.event_id not in self._retried]
            self._retried = {r.event_id for r in rows}
            await self._settle(session, [parse_event(p) for p in retry], parked=True)
            expired = (
                await session.execute(
                    select(t.c.event_id, t.c.event_type, t.c.subject, t.c.payload, t.c.awaiting, t.c.parked_at)
                    .where(t.c.parked_at < cutoff)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if expired:
                # Published before the commit: a failure leaves the events parked, to be dead-lettered next time.
                await self.dead_letters.publish([self._unmatched(r) for r in expired])
                ids = [r.event_id for r in expired]
                await session.execute(t.delete().where(t.c.event_id == any_of(ids)))
                await session.execute(_FORGET, {"ids": ids})
            await self._measure(session)
        return len(expired)

    def _unmatched(self, row: Any) -> Rejection:
        record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
            topic_of(row.event_type, self.topic_prefix), -1, -1, 0, 0, row.subject.encode(), row.payload, None, 0, 0, ()
        )
        for start, (reason, what) in self.expiries.items():
            if row.awaiting.startswith(start):
                return Rejection(record, reason, f"{what} while it waited, since {row.parked_at}")
        detail = f"waited since {row.parked_at} for {row.awaiting}, which never arrived"
        return Rejection(record, "unmatched", detail)

    async def run(self) -> None:
        """Sweep every `sweep_seconds` until cancelled; a failed sweep is tried again at the next. `after_sweep`
        (waking the outbox relay) follows each, as what a sweep applies may have staged events."""
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.sweep()
                self.after_sweep()
            except Exception:  # the database or broker is down: the rows stay parked
                log.exception("parking sweep failed; retrying")
