"""The outbox relay and the inbox, on the real database and broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.facility.models import outbox
from shared.consumer import Consumer, DeadLetters, Record
from shared.database import sessions
from shared.events import CONTENT_TYPE, EVENT_ADAPTER, Event, all_topics, serialize, topic_of
from shared.kafka import ensure_topics, marker_topic, restore_if_lost, sender, start_broker
from shared.observability import Metrics
from shared.outbox import OutboxRelay, add_to_outbox
from tests.builders import a_completion, an_admission, an_event, handle
from tests.infra import Infra


async def read_topic(infra: Infra, topic: str, wanted: int, timeout: float = 15) -> list[Record]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < wanted and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                found.extend(batch)
    finally:
        await consumer.stop()
    return found


@pytest.fixture
async def broker(infra: Infra) -> object:
    b = KafkaBroker(infra.bootstrap_servers)
    await b.start()
    yield b
    await b.stop()


async def test_the_relay_publishes_in_order_keyed_by_subject_and_marks_the_rows_published(
    infra: Infra, facility_db: AsyncEngine, broker: KafkaBroker
) -> None:
    prefix = f"{infra.topic_prefix}relay{time.monotonic_ns()}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    db = sessions(facility_db)
    subject = "s" * 64
    events: list[Event] = [an_event(a_completion(), subject=subject) for _ in range(5)]
    async with db.begin() as session:
        await add_to_outbox(session, outbox, *events)
    metrics = Metrics()
    relay = OutboxRelay(db, outbox, sender(broker), metrics, topic_prefix=prefix, poll_seconds=0.1)

    assert await relay.publish_pending() == 5

    records = await read_topic(infra, topic_of("vn.rehab.completed.v1", prefix), 5)
    assert [EVENT_ADAPTER.validate_json(r.value or b"").id for r in records] == [e.id for e in events]
    assert {r.key for r in records} == {subject.encode()}
    assert all(dict(r.headers)["content-type"] == CONTENT_TYPE.encode() for r in records)
    await relay.measure()
    assert metrics.outbox_backlog._value.get() == 0
    assert await relay.publish_pending() == 0

    # Kept for the retention period, so that a broker that lost them can be given them again, in order.
    assert await relay.purge(retention_days=1) == 0
    assert await relay.replay() == 5
    assert await relay.publish_pending() == 5
    records = await read_topic(infra, topic_of("vn.rehab.completed.v1", prefix), 10)
    assert [EVENT_ADAPTER.validate_json(r.value or b"").id for r in records] == [e.id for e in events] * 2
    assert await relay.purge(retention_days=0) == 5
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(outbox)) == 0


async def test_a_broker_that_lost_the_services_marker_gets_the_retained_outbox_again(
    infra: Infra, facility_db: AsyncEngine, broker: KafkaBroker
) -> None:
    prefix = f"{infra.topic_prefix}lost{time.monotonic_ns()}."
    db = sessions(facility_db)
    relay = OutboxRelay(db, outbox, sender(broker), Metrics(), topic_prefix=prefix, poll_seconds=0.1)
    restore = (infra.bootstrap_servers, prefix, 3, "facility", relay)
    assert await restore_if_lost(*restore) == 0  # a first start: topics and marker created, nothing to replay
    async with db.begin() as session:
        await add_to_outbox(session, outbox, *(an_event(a_completion()) for _ in range(3)))
    assert await relay.publish_pending() == 3
    assert await restore_if_lost(*restore) == 0  # the broker holds the marker: nothing lost

    # The broker loses the marker (as a memory-only broker loses everything when it restarts).
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([marker_topic(prefix, "facility")])
        assert await restore_if_lost(*restore) == 3
        assert {*all_topics(prefix), marker_topic(prefix, "facility")} <= set(await admin.list_topics())
    finally:
        await admin.close()
    assert await relay.publish_pending() == 3
    records = await read_topic(infra, topic_of("vn.rehab.completed.v1", prefix), 6)
    assert len(records) == 6 and len({r.value for r in records}) == 3


async def test_rows_stay_in_the_outbox_when_the_broker_does_not_take_them(
    infra: Infra, facility_db: AsyncEngine
) -> None:
    async def unreachable(*_: object) -> Awaitable[object]:
        raise ConnectionError("broker down")

    db = sessions(facility_db)
    async with db.begin() as session:
        await add_to_outbox(session, outbox, an_event(a_completion()))
    metrics = Metrics()
    relay = OutboxRelay(db, outbox, unreachable, metrics, topic_prefix="", poll_seconds=0.1)
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(outbox)) == 1
    assert metrics.published.labels("completed", "failed")._value.get() == 1
    await relay.measure()  # the gauges tell the truth while the relay is stuck
    assert metrics.outbox_backlog._value.get() == 1
    assert metrics.outbox_oldest_age._value.get() >= 0


def two_groups(infra: Infra, prefix: str) -> KafkaBroker:
    """A broker with two subscribers of one topic, each in a group of its own (as a service's pipeline and access
    token subscribers are)."""
    broker = KafkaBroker(infra.bootstrap_servers)
    for group in ("one", "two"):

        @broker.subscriber(topic_of("vn.rehab.admitted.v1", prefix), group_id=f"{prefix}{group}")
        async def ignore(body: bytes) -> None:
            pass

    return broker


Start = Callable[[], Coroutine[None, None, None]]


def timed(start: Start, steps: list[str]) -> Start:
    async def starting() -> None:
        steps.append("began")
        await start()
        steps.append("ended")

    return starting


async def test_the_broker_starts_its_consumer_groups_together(infra: Infra) -> None:
    """The broker holds each group's first join for a while (Tansu half the session timeout, Apache Kafka
    `group.initial.rebalance.delay.ms`): one after another, a service waited that long for each of its groups."""
    prefix = f"{infra.topic_prefix}start{time.monotonic_ns()}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    broker = two_groups(infra, prefix)
    steps: list[str] = []
    for subscriber in broker.subscribers:
        subscriber.start = timed(subscriber.start, steps)  # type: ignore[method-assign]
    try:
        await start_broker(broker)
        assert steps == ["began", "began", "ended", "ended"]  # the second began before the first had its partitions
        assert broker.running
        assert all(len(subscriber.consumer.assignment()) == 3 for subscriber in broker.subscribers)  # type: ignore[attr-defined]
    finally:
        await broker.stop()


async def test_a_start_that_fails_stops_the_consumers_that_started(infra: Infra) -> None:
    prefix = f"{infra.topic_prefix}fail{time.monotonic_ns()}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    broker = two_groups(infra, prefix)
    first, second = broker.subscribers
    first_joined = asyncio.Event()
    start_first = first.start

    async def first_joins() -> None:
        await start_first()
        first_joined.set()

    async def fails_once_the_first_has_joined() -> None:
        await first_joined.wait()
        raise ConnectionError("the broker went away")

    first.start = first_joins  # type: ignore[method-assign]
    second.start = fails_once_the_first_has_joined  # type: ignore[method-assign]
    with pytest.raises(ConnectionError, match="went away"):  # the cause itself, for the "retrying" log line
        await start_broker(broker)
    assert first_joined.is_set() and not broker.running
    assert first.consumer is None  # type: ignore[attr-defined]  # stopped: it left its group, trying again adds no stray member


def as_record(event: Event | bytes, topic: str, offset: int) -> Record:
    value = event if isinstance(event, bytes) else serialize(event)
    return Record(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), ())


async def test_the_inbox_applies_each_event_once_across_and_within_batches(facility_db: AsyncEngine) -> None:
    applied: list[str] = []

    async def record_ids(_session: object, events: list[Event]) -> None:
        applied.extend(e.id for e in events)

    sent: list[tuple[str, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Awaitable[object]:
        sent.append((headers["hoinhap-reason"], value))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    metrics = Metrics()
    consumer = Consumer(
        sessions(facility_db),
        record_ids,
        DeadLetters(send, metrics, service="t", topic_prefix=""),
        metrics,
        topic_prefix="",
    )
    first, second = an_event(an_admission()), an_event(an_admission())
    topic = "rehab.admitted"
    await handle(consumer, [as_record(first, topic, 0), as_record(first, topic, 1), as_record(b"[]", topic, 2)])
    await handle(consumer, [as_record(first, topic, 0), as_record(second, topic, 3)])

    assert applied == [first.id, second.id]
    assert sent == [("invalid_event", b"[]")]
    [family] = metrics.consumed.collect()
    consumed = {tuple(s.labels.values()): s.value for s in family.samples if s.value}
    assert consumed == {("admitted", "applied"): 2, ("admitted", "duplicate"): 2, ("admitted", "rejected"): 1}
