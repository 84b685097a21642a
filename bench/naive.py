"""The baseline a first attempt would give: one record at a time, one transaction and one ORM write per event."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer
from sqlalchemy import Date, Integer, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import create_engine, sessions
from shared.events import EVENT_ADAPTER, all_topics, event_date, short_type


class Base(DeclarativeBase):
    pass


class NaiveInbox(Base):
    __tablename__ = "naive_inbox"
    event_id: Mapped[str] = mapped_column(Text, primary_key=True)


class NaiveTotal(Base):
    __tablename__ = "naive_totals"
    indicator_id: Mapped[str] = mapped_column(Text, primary_key=True)
    month: Mapped[object] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


async def run_naive(bootstrap: str, prefix: str, database_url: str, n: int) -> tuple[float, int]:
    """Consume `n` records; returns (seconds from the first record, events applied)."""
    engine = create_engine(database_url, "bench_naive")
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS bench_naive CASCADE"))
        await conn.execute(text("CREATE SCHEMA bench_naive"))
        await conn.run_sync(Base.metadata.create_all)
    db = sessions(engine)
    consumer = AIOKafkaConsumer(
        *all_topics(prefix),
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}naive",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6_000,  # as the services' (Tansu holds a group's first join for half of it)
        heartbeat_interval_ms=2_000,
    )
    await consumer.start()
    applied, started = 0, 0.0
    try:
        for _ in range(n):
            record = await consumer.getone()
            started = started or time.perf_counter()
            event = EVENT_ADAPTER.validate_json(record.value or b"")
            async with db.begin() as session:
                if await session.get(NaiveInbox, event.id) is None:
                    session.add(NaiveInbox(event_id=event.id))
                    key = (short_type(event.type), event_date(event.data).replace(day=1))
                    total = await session.get(NaiveTotal, key)
                    if total is None:
                        session.add(NaiveTotal(indicator_id=key[0], month=key[1], value=1))
                    else:
                        total.value += 1
                    applied += 1
            await consumer.commit()
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA bench_naive CASCADE"))
        await engine.dispose()
    return elapsed, applied
