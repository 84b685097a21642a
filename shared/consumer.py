"""Consuming the contract: records become events or dead letters; events and their effect commit together."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.events import (
    DEADLETTER_TOPIC,
    EVENT_ADAPTER,
    TYPES_ON_TOPIC,
    Event,
    event_date,
    short_type,
)
from shared.inbox import claim
from shared.observability import Metrics
from shared.outbox import Send
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 64 * 1024
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
#: Applies new events; with `Consumer(inbox=False)` it deduplicates them itself and returns those it applied.
Apply = Callable[[AsyncSession, list[Event]], Awaitable[list[Event] | None]]
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


def decode(record: Record, topic_prefix: str) -> Event | Rejection:
    """Validate one record against the contract and the topic it came from."""
    value = record.value or b""
    if len(value) > MAX_RECORD_BYTES:
        return Rejection(record, "oversized", f"record of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        event = EVENT_ADAPTER.validate_json(value)
    except ValidationError as error:
        first = error.errors()[0]
        reason = "invalid_json" if first["type"] == "json_invalid" else "invalid_event"
        return Rejection(record, reason, _describe(error))
    if event.type not in TYPES_ON_TOPIC.get(record.topic.removeprefix(topic_prefix), ()):
        return Rejection(record, "wrong_topic", f"type {event.type} does not belong on topic {record.topic}")
    if event_date(event.data) > datetime.now(UTC).date() + DATE_SLACK:
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


async def _records(message: Any) -> Any:
    """FastStream `decoder=`: hand the handler the raw records; `decode` validates them against the contract."""
    return list(message.raw_message)


BatchHandler = Callable[[list[Record]], Awaitable[None]]


def batch_subscriber(
    router: KafkaRouter, settings: ServiceSettings, *topics: str, group_suffix: str = ""
) -> Callable[[BatchHandler], object]:
    """How every consumer of the suite subscribes: in batches from the earliest offset, in the service's group,
    committing offsets only after the handler returned (so after its database commit), and seeking back to
    redeliver the batch when it raised."""
    return router.subscriber(
        *topics,
        group_id=settings.consumer_group + group_suffix,
        batch=True,
        max_records=settings.consumer_max_records,
        batch_timeout_ms=50,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=parse_batch,
        decoder=_records,
        include_in_schema=False,  # raw records; the publishers document the event schemas
    )


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
            self.metrics.consumed.labels(topic_type(r.record, self.topic_prefix), "rejected").inc()
            log.warning("record dead-lettered: %s", r.detail, extra={"reason": r.reason, **_where(r.record, r.event)})


def topic_type(record: Record, topic_prefix: str) -> str:
    """The metric label of a record's topic (`admitted`, `access`), whatever the record holds."""
    return record.topic.removeprefix(topic_prefix).removeprefix("rehab.")


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

    async def handle(self, records: Sequence[Record]) -> None:
        """Raise only for transient failures (after a pause), so the batch is redelivered."""
        started = time.perf_counter()
        events: list[Event] = []
        rejections: list[Rejection] = []
        for record in records:
            decoded = self._decode(record)
            if isinstance(decoded, Rejection):
                rejections.append(decoded)
            else:
                events.append(decoded)
        try:
            async with self.sessions.begin() as session:
                fresh = await claim(session, events) if self.inbox else events
                applied = await self.apply(session, fresh)
                fresh = fresh if applied is None else applied
            await self.dead_letters.publish(rejections)
        except Exception:
            log.exception("batch of %d records failed; it will be redelivered", len(records))
            for record in records:
                self.metrics.consumed.labels(topic_type(record, self.topic_prefix), "failed").inc()
            await asyncio.sleep(self.retry_seconds)
            raise
        if self.after_commit is not None:
            self.after_commit(fresh)
        self._count(events, fresh)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    def _decode(self, record: Record) -> Event | Rejection:
        decoded = decode(record, self.topic_prefix)
        if isinstance(decoded, Rejection) or self.check is None:
            return decoded
        problem = self.check(decoded)
        return decoded if problem is None else Rejection(record, *problem, event=decoded)

    def _count(self, events: list[Event], fresh: list[Event]) -> None:
        applied = {id(e) for e in fresh}
        counts = Counter((short_type(e.type), "applied" if id(e) in applied else "duplicate") for e in events)
        for (event_type, result), n in counts.items():
            self.metrics.consumed.labels(event_type, result).inc(n)
        if log.isEnabledFor(logging.DEBUG):
            for e in events:
                log.debug("event %s", "applied" if id(e) in applied else "skipped as a duplicate", extra=_ids(e))
