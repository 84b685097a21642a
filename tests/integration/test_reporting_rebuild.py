"""`hoinhap reporting rebuild` on the real broker and PostgreSQL: the rebuilt views equal the incremental ones,
reads go on during the swap, and the service's consumer, going on after it, neither loses nor repeats an event; the
rebuild refuses topics that lost part of the history, unless told."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from sqlalchemy import text

from services.reporting.catalogue import CATALOGUE
from services.reporting.changes import channel
from services.reporting.domain import parse_period
from services.reporting.read.figures import figures
from services.reporting.settings import Settings
from services.reporting.write.db import consumer_sessions
from services.reporting.write.rebuild import HistoryTruncatedError, Rebuild, main
from services.reporting.write.replay import Progress
from shared.database import create_engine, psql_params, sessions
from shared.events import Event, new_event, serialize, topic_of
from shared.kafka import ensure_topics
from shared.topics import set_configs
from tests.builders import a_completion, an_admission
from tests.infra import Infra
from tests.integration.test_reporting_views import _schema, deliver, dump


def a_stream(rng: random.Random, episodes: int, name: str) -> list[Event]:
    events: list[Event] = []
    for n in range(episodes):
        subject = f"{rng.randrange(episodes // 2):064x}"
        on = date(2022, 1, 1) + timedelta(days=rng.randrange(700))
        ward = rng.choice(["00070", "00073", "26068"])
        admitted = an_admission(episode_id=f"{name}-{n}", admitted_on=on, unit=ward)
        events.append(new_event(admitted, subject=subject, source="/vn/t", time=datetime.combine(on, time(1), UTC)))
        if rng.random() < 0.5:
            ended = on + timedelta(days=rng.randrange(300))
            end = a_completion(
                episode_id=f"{name}-{n}", completed_on=ended, vocational_training=rng.choice([None, "hàn"])
            )
            events.append(new_event(end, subject=subject, source="/vn/t", time=datetime.combine(ended, time(1), UTC)))
    return events


async def publish(infra: Infra, prefix: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic_of(e.type, prefix), serialize(e), key=e.subject.encode()) for e in events]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_rebuild_swaps_in_equal_views_while_reads_and_the_consumer_go_on(infra: Infra) -> None:
    rng = random.Random(7)
    prefix = f"{infra.topic_prefix}rb{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    live_name, scratch_name = f"rb_{uuid.uuid4().hex[:8]}", f"rb_{uuid.uuid4().hex[:8]}"
    live, scratch = await _schema(infra, live_name), await _schema(infra, scratch_name)
    before = a_stream(rng, 600, "early")
    during = [e for e in a_stream(rng, 300, "late") if e.type.endswith("admitted.v1")]
    service = consumer_sessions(live, live_name)
    try:
        await publish(infra, prefix, before + before[:50])  # some records twice, as a redelivery leaves them
        await deliver(service, [before[i : i + 97] for i in range(0, len(before), 97)])
        await deliver(sessions(scratch), [before + during])
        expected_total = len(during) + sum(1 for e in before if e.type.endswith("admitted.v1"))

        reads: list[int] = []

        async def read_on() -> None:
            db = sessions(live)
            while True:
                async with db() as s:
                    found = await figures(s, [CATALOGUE["admissions.total"]], ["VN"], parse_period("2022/2024"), None)
                reads.append(int(found["VN"]["admissions.total"] or 0))
                await asyncio.sleep(0)

        async def consume_on() -> None:  # the service goes on: these arrive on the topics and are applied
            for i in range(0, len(during), 30):
                await publish(infra, prefix, during[i : i + 30])
                await deliver(service, [during[i : i + 30]])
                await asyncio.sleep(0.01)

        reported: list[Progress] = []
        settings = Settings(
            DATABASE_URL=infra.database_url,
            KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap_servers,
            HOINHAP_ADMIN_TOKEN="t" * 20,
            HOINHAP_TOPIC_PREFIX=prefix,
            db_schema=live_name,
        )
        told: list[str] = []  # what each reporting process hears, to forget the reads it kept
        listening = await asyncpg.connect(**psql_params(infra.database_url))
        await listening.add_listener(channel(live_name), lambda *args: told.append(args[2]))
        reader = asyncio.create_task(read_on())
        consumer = asyncio.create_task(consume_on())
        progress = await Rebuild(settings, batch_size=200, report=reported.append).run()
        await consumer
        await asyncio.sleep(0.2)
        await listening.close()
        assert told == [channel(live_name)]  # the swap told them, once
        # after the swap, the service re-reads from its committed offsets: what the rebuild applied is skipped
        await deliver(service, [during[-60:], before[-40:]])
        reader.cancel()

        assert progress.read >= len(before) + 50
        assert reported and reported[-1].read == progress.read
        assert len(reads) > 10 and all(r <= expected_total for r in reads)
        assert await dump(live) == await dump(scratch)
        async with live.connect() as conn:
            schemas = await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": "rb_%"})
            assert f"{live_name}_rebuild" not in set(schemas.scalars())
    finally:
        for engine, name in ((live, live_name), (scratch, scratch_name)):
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            await engine.dispose()
        async with create_engine(infra.database_url, "public").begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{live_name}_rebuild" CASCADE'))


@pytest.mark.parametrize("partitions", [3, 2], ids=["even", "uneven"])
async def test_a_rebuild_before_the_service_ever_ran_creates_the_views(infra: Infra, partitions: int) -> None:
    """With topics of uneven partition counts (admissions in 2, the rest in 3) an episode's events lie in partitions
    of different numbers: the rebuild replays them in one process."""
    prefix = f"{infra.topic_prefix}rb{uuid.uuid4().hex[:6]}."
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{prefix}rehab.admitted", partitions, 1)])
    finally:
        await admin.close()
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    live_name, scratch_name = f"rb_{uuid.uuid4().hex[:8]}", f"rb_{uuid.uuid4().hex[:8]}"
    live, scratch = create_engine(infra.database_url, live_name), await _schema(infra, scratch_name)
    events = a_stream(random.Random(3), 200, "first")
    try:
        await publish(infra, prefix, events)
        await deliver(sessions(scratch), [events])
        settings = Settings(
            DATABASE_URL=infra.database_url,
            KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap_servers,
            HOINHAP_ADMIN_TOKEN="t" * 20,
            HOINHAP_TOPIC_PREFIX=prefix,
            db_schema=live_name,
        )
        progress = await Rebuild(settings, batch_size=150, report=lambda _: None).run()

        assert progress.read == len(events)
        assert await dump(live) == await dump(scratch)
        async with live.connect() as conn:  # filled unlogged, swapped in durable
            unlogged = await conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relpersistence = 'u'"
                ),
                {"schema": live_name},
            )
            assert list(unlogged.scalars()) == []
    finally:
        for engine, name in ((live, live_name), (scratch, scratch_name)):
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            await engine.dispose()


async def test_a_rebuild_refuses_topics_that_lost_history_and_swaps_when_told(
    infra: Infra, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fault: on a running broker the topics' retention is shortened (a cluster default of 7 days) and records
    deleted. Tansu 0.6 has no DeleteRecords (its memory storage panics on it), so there the finite retention alone
    must stop the rebuild; the earliest-offset rule is also tested on its own (tests/unit/test_topic_retention.py)."""
    prefix = f"{infra.topic_prefix}rb{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    admitted, completed = f"{prefix}rehab.admitted", f"{prefix}rehab.completed"
    live_name, scratch_name = f"rb_{uuid.uuid4().hex[:8]}", f"rb_{uuid.uuid4().hex[:8]}"
    live, scratch = await _schema(infra, live_name), await _schema(infra, scratch_name)
    events = a_stream(random.Random(5), 150, "fault")
    env = {
        "DATABASE_URL": infra.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "HOINHAP_ADMIN_TOKEN": "t" * 20,
        "HOINHAP_TOPIC_PREFIX": prefix,
        "HOINHAP_REPORTING_DB_SCHEMA": live_name,
    }
    settings = Settings(**env, db_schema=live_name)  # type: ignore[arg-type]
    try:
        await publish(infra, prefix, events)
        await deliver(consumer_sessions(live, live_name), [events[:100]])  # the service had applied some
        await deliver(sessions(scratch), [events])
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
        await admin.start()
        try:
            await set_configs(admin, {t: {"retention.ms": str(7 * 86_400_000)} for t in (admitted, completed)})
            if infra.kafka_source != "tansu":
                await admin.delete_records({TopicPartition(admitted, 0): RecordsToDelete(3)})
        finally:
            await admin.close()
        before = await dump(live)

        with pytest.raises(HistoryTruncatedError) as refused:
            await Rebuild(settings, batch_size=100, report=lambda _: None).run()

        history = refused.value.history
        assert {r.topic for r in history.expiring} == {admitted, completed}
        assert history.deleted == ({} if infra.kafka_source == "tansu" else {admitted: 3})
        assert await dump(live) == before  # the live views untouched, no shadow made
        async with live.connect() as conn:
            shadows = await conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": live_name + "_rebuild"}
            )
            assert shadows.first() is None

        for name, value in env.items():  # the command: non-zero, naming the topics
            monkeypatch.setenv(name, value)
        assert await asyncio.to_thread(main) == 1
        told = capsys.readouterr().err
        assert "refused, the live views are untouched" in told and admitted in told and completed in told
        assert "--accept-truncated" in told
        assert await dump(live) == before

        progress = await Rebuild(settings, batch_size=100, report=lambda _: None, accept_truncated=True).run()

        assert progress.phase == "swapped"
        if infra.kafka_source == "tansu":  # nothing was deleted: the views hold every event
            assert progress.read == len(events)
            assert await dump(live) == await dump(scratch)
        else:
            assert progress.read == len(events) - 3
    finally:
        for engine, name in ((live, live_name), (scratch, scratch_name)):
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            await engine.dispose()
        async with create_engine(infra.database_url, "public").begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{live_name}_rebuild" CASCADE'))
