"""Consuming the contract: records become events or dead letters; events and their effect commit together."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import (
    DEADLETTER_TOPIC,
    TYPES_ON_TOPIC,
    Event,
    event_date,
    parse_event,
    short_type,
)
from shared.inbox import claim
from shared.observability import Metrics
from shared.outbox import Send

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 64 * 1024
#: Records validated between two chances for the other tasks to run (about 0.5 ms of one core).
DECODE_STEP = 100
#: How far ahead of today (UTC) an event's date may lie: agencies east of UTC are a day ahead at night.
DATE_SLACK = timedelta(days=1)

#: Every reason a record is dead-lettered for (services' own checks included), so each counter starts at zero.
REASONS = (
    "oversized",
    "invalid_json",
    "invalid_event",
    "wrong_topic",
    "future_date",
    "unknown_unit",
    "unmatched",
    "unknown_facility",
)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


@dataclass
class Deferred:
    """What `apply` may return to leave part of its work for later in the same transaction: the events it applied,
    and the rest, which a `Pipeline` runs while the next batch's `apply` begins (so that the database works on two
    batches at once). The rest must touch nothing the next batch's `apply` writes, or the two would wait on each
    other."""

    events: list[Event]
    rest: Callable[[], Awaitable[None]]


#: Applies new events; with `Consumer(inbox=False)` it deduplicates them itself and returns those it applied.
Apply = Callable[[AsyncSession, list[Event]], Awaitable[list[Event] | Deferred | None]]
#: A service's own test of a contract-valid event: None, or (reason, detail) to dead-letter it.
Check = Callable[[Event], tuple[str, str] | None]
#: Told the events a batch applied, once their transaction has committed.
AfterCommit = Callable[[list[Event]], None]


@dataclass(frozen=True)
class Rejection:
    """A record that can never be applied, and why; `reason` is a short code, `detail` says what is wrong.
    `event` is set when the record was a valid event that a service's own check refused."""

    record: Record
    reason: str
    detail: str
    event: Event | None = None


def latest_date() -> date:
    """The latest business date an event may carry now (see `DATE_SLACK`)."""
    return datetime.now(UTC).date() + DATE_SLACK


@dataclass
class Started:
    """Batches whose transaction has begun and whose events `apply` has applied (but for its `Deferred.rest`)."""

    batches: Sequence[Decoded]
    session: AsyncSession
    events: list[Event]
    began: float
    fresh: list[Event] = field(default_factory=list)
    rest: Callable[[], Awaitable[None]] | None = None


@dataclass
class Decoded:
    """A batch of records validated: the events to apply, the records to dead-letter, and for the rest only where
    the batch ends in each partition and how many records each topic gave (the records themselves are let go: a
    batch waits in memory until its transaction commits)."""

    size: int
    ends: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> its last offset here
    topics: Counter[str] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def decode(record: Record, topic_prefix: str, latest: date | None = None) -> Event | Rejection:
    """Validate one record against the contract and the topic it came from; `latest`: see `latest_date` (taken once
    for a whole batch)."""
    value = record.value or b""
    if len(value) > MAX_RECORD_BYTES:
        return Rejection(record, "oversized", f"record of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        event = parse_event(value)
    except ValidationError as error:
        first = error.errors()[0]
        reason = "invalid_json" if first["type"] == "json_invalid" else "invalid_event"
        return Rejection(record, reason, _describe(error))
    if event.type not in TYPES_ON_TOPIC.get(record.topic.removeprefix(topic_prefix), ()):
        return Rejection(record, "wrong_topic", f"type {event.type} does not belong on topic {record.topic}")
    if event_date(event.data) > (latest or latest_date()):
        return Rejection(record, "future_date", f"event date {event_date(event.data)} is in the future")
    return event


def _describe(error: ValidationError) -> str:
    """Field and rule of each error, without echoing the rejected input back."""
    parts = []
    for e in error.errors(include_input=False, include_url=False)[:5]:
        location = ".".join(str(p) for p in e["loc"] if not str(p).startswith("vn.rehab."))
        parts.append(f"{location or '(record)'}: {e['msg']}")
    return "; ".join(parts)[:1000]


def readable_headers(records: Sequence[Record]) -> tuple[Record, ...]:
    """FastStream decodes every header as UTF-8 and fails the whole batch on one that is not; drop those."""
    return tuple(
        r
        if all(_is_utf8(v) for _, v in r.headers)
        else dataclasses.replace(r, headers=tuple((k, v) for k, v in r.headers if _is_utf8(v)))
        for r in records
    )


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


async def parse_batch(records: tuple[Record, ...], original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream `parser=` hook for batch subscribers, see `readable_headers`."""
    return await original(readable_headers(records))


async def raw_records(message: Any) -> Any:
    """FastStream `decoder=`: hand the handler the raw records; `decode` validates them against the contract."""
    return list(message.raw_message)


class DeadLetters:
    """Publishes rejected records, untouched, to the dead-letter topic with the reason in headers."""

    def __init__(self, send: Send, metrics: Metrics, *, service: str, topic_prefix: str) -> None:
        self.send = send
        self.metrics = metrics
        self.service = service
        self.topic_prefix = topic_prefix
        self.topic = topic_prefix + DEADLETTER_TOPIC
        for reason in REASONS:
            metrics.deadlettered.labels(reason)

    async def publish(self, rejections: Sequence[Rejection]) -> None:
        sent = []
        for r in rejections:
            headers = {
                "hoinhap-reason": r.reason,
                "hoinhap-reason-detail": r.detail,
                "hoinhap-service": self.service,
                "hoinhap-original-topic": r.record.topic,
                "hoinhap-original-partition": str(r.record.partition),
                "hoinhap-original-offset": str(r.record.offset),
            }
            sent.append(await self.send(self.topic, r.record.key or b"", r.record.value or b"", headers))
        await asyncio.gather(*sent)
        for r in rejections:
            self.metrics.deadlettered.labels(r.reason).inc()
            self.metrics.consumed.labels(topic_type(r.record.topic, self.topic_prefix), "rejected").inc()
            log.warning("record dead-lettered: %s", r.detail, extra={"reason": r.reason, **_where(r.record, r.event)})


def topic_type(topic: str, topic_prefix: str) -> str:
    """The metric label of a topic's records (`admitted`, `access`), whatever they hold."""
    return topic.removeprefix(topic_prefix).removeprefix("rehab.")


def _where(record: Record, event: Event | None) -> dict[str, object]:
    """Log fields that find a record again: its place in Kafka and, if it is an event, its ids."""
    fields: dict[str, object] = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    return fields | _ids(event) if event is not None else fields


def _ids(event: Event) -> dict[str, object]:
    """An event's ids for a log line; never its data, which describes a person."""
    ids: dict[str, object] = {"event_id": event.id, "event_type": event.type}
    episode = getattr(event.data, "episode_id", None)  # access events have none
    return ids if episode is None else ids | {"episode_id": episode}


class Consumer:
    """Handles one batch: new events and their effect commit in one transaction, duplicates are skipped."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        apply: Apply,
        dead_letters: DeadLetters,
        metrics: Metrics,
        *,
        topic_prefix: str,
        check: Check | None = None,
        after_commit: AfterCommit | None = None,
        retry_seconds: float = 1.0,
        inbox: bool = True,
    ) -> None:
        """`inbox=False`: `apply` finds duplicates by the natural keys of what it writes (as reporting's views do),
        so no row per event is claimed first; it must return the events it applied."""
        self.inbox = inbox
        self.check = check
        self.after_commit = after_commit
        self.sessions = sessions
        self.apply = apply
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.topic_prefix = topic_prefix
        self.retry_seconds = retry_seconds

    async def decoded(self, records: Sequence[Record]) -> Decoded:
        """The records validated: what needs no database, so it can be done while the batch before is written. It
        lets the other tasks run every `DECODE_STEP` records, so the writer's statements are not kept waiting behind
        a whole batch's validation."""
        batch = Decoded(len(records))
        latest = latest_date()
        for i, record in enumerate(records):
            if i and not i % DECODE_STEP:
                await asyncio.sleep(0)
            batch.ends[record.topic, record.partition] = record.offset  # in offset order within a partition
            batch.topics[record.topic] += 1
            decoded = self._decode(record, latest)
            if isinstance(decoded, Rejection):
                batch.rejections.append(decoded)
            else:
                batch.events.append(decoded)
        return batch

    async def start(self, batches: Sequence[Decoded]) -> Started:
        """Begin the batches' transaction and apply their events (what `apply` does at once); raise only for
        transient failures, the transaction rolled back."""
        events = [e for batch in batches for e in batch.events]
        started = Started(batches, self.sessions(), events, time.perf_counter())
        try:
            await started.session.begin()
            fresh = await claim(started.session, events) if self.inbox else events
            applied = await self.apply(started.session, fresh)
            if isinstance(applied, Deferred):
                started.fresh, started.rest = applied.events, applied.rest
            else:
                started.fresh = fresh if applied is None else applied
        except Exception:
            await self._failed(started)
            raise
        return started

    async def finish(self, started: Started) -> None:
        """The rest of `apply`, the commit, the dead letters; raise only for transient failures, the transaction
        rolled back."""
        try:
            if started.rest is not None:
                await started.rest()
            await started.session.commit()
            await started.session.close()
            await self.dead_letters.publish([r for batch in started.batches for r in batch.rejections])
        except Exception:
            await self._failed(started)
            raise
        if self.after_commit is not None:
            self.after_commit(started.fresh)
        self._count(started.events, started.fresh)
        self.metrics.batch_seconds.observe(time.perf_counter() - started.began)

    async def abort(self, started: Started) -> None:
        """Roll back a started transaction whose batches will be written again."""
        with suppress(Exception):  # a connection already gone has nothing to roll back
            await started.session.close()

    async def _failed(self, started: Started) -> None:
        await self.abort(started)
        log.exception("batch of %d records failed; it will be written again", sum(b.size for b in started.batches))
        for batch in started.batches:
            for topic, n in batch.topics.items():
                self.metrics.consumed.labels(topic_type(topic, self.topic_prefix), "failed").inc(n)

    def _decode(self, record: Record, latest: date) -> Event | Rejection:
        decoded = decode(record, self.topic_prefix, latest)
        if isinstance(decoded, Rejection) or self.check is None:
            return decoded
        problem = self.check(decoded)
        return decoded if problem is None else Rejection(record, *problem, event=decoded)

    def _count(self, events: list[Event], fresh: list[Event]) -> None:
        seen = Counter(e.type for e in events)
        applied = Counter(e.type for e in fresh)  # `fresh` is part of `events`
        for event_type, n in seen.items():
            self.metrics.consumed.labels(short_type(event_type), "applied").inc(applied[event_type])
            self.metrics.consumed.labels(short_type(event_type), "duplicate").inc(n - applied[event_type])
        if log.isEnabledFor(logging.DEBUG):
            chosen = {id(e) for e in fresh}
            for e in events:
                log.debug("event %s", "applied" if id(e) in chosen else "skipped as a duplicate", extra=_ids(e))
