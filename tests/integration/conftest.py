"""One service's tables in this run's database, in a schema of the test's own."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.consumer import Consumer, DeadLetters, Record
from shared.database import create_engine, migrate, sessions
from shared.events import Event, serialize, topic_of
from shared.observability import Metrics
from shared.parking import Parking
from tests.builders import handle
from tests.infra import Infra


def migrations_of(service: str) -> Path:
    return Path(importlib.import_module(f"services.{service}").__file__ or "").parent / "migrations"


NewSchema = Callable[[], Awaitable[tuple[AsyncEngine, str]]]


@pytest.fixture
async def new_schema(infra: Infra) -> AsyncIterator[NewSchema]:
    """`await new_schema()`: an engine on an empty schema of its own, dropped after the test."""
    made: list[tuple[AsyncEngine, str]] = []

    async def make() -> tuple[AsyncEngine, str]:
        schema = f"s_{uuid.uuid4().hex[:12]}"
        made.append((create_engine(infra.database_url, schema), schema))
        return made[-1]

    try:
        yield make
    finally:
        for engine, schema in made:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


@pytest.fixture
async def fresh_schema(new_schema: NewSchema) -> tuple[AsyncEngine, str]:
    """An engine on an empty schema; the test migrates whichever service it needs into it."""
    return await new_schema()


@pytest.fixture
async def facility_db(fresh_schema: tuple[AsyncEngine, str]) -> AsyncEngine:
    engine, schema = fresh_schema
    await migrate(engine, schema, migrations_of("facility"))
    return engine


@dataclass
class Harness:
    """One service's consumer, with its parking, on a schema of the test's own; dead letters are kept in a list."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    parking: Parking
    consumer: Consumer
    metrics: Metrics
    dead: list[tuple[str, str, bytes]] = field(default_factory=list)
    offset: int = 0

    async def deliver(self, *events: Event) -> None:
        """Hand the events to the consumer as one batch of records, each on its own topic."""
        records = []
        for e in events:
            self.offset += 1
            value = serialize(e)
            records.append(Record(topic_of(e.type), 0, self.offset, 0, 0, b"k", value, None, 1, len(value), ()))
        await handle(self.consumer, records)

    async def rows(self, sql: str, **params: object) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            return [dict(r) for r in (await s.execute(text(sql), params)).mappings()]

    async def execute(self, sql: str, **params: object) -> None:
        async with self.sessions.begin() as s:
            await s.execute(text(sql), params)

    async def count(self, table: str) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


HarnessOf = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def harness_of(new_schema: NewSchema) -> HarnessOf:
    """`await harness_of("aftercare", timeout_seconds=...)`: that service's consumer on a fresh schema of its own."""

    async def build(service: str, timeout_seconds: float = 3600) -> Harness:
        engine, schema = await new_schema()
        await migrate(engine, schema, migrations_of(service))
        metrics = Metrics()
        dead: list[tuple[str, str, bytes]] = []

        async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Awaitable[object]:
            dead.append((headers["hoinhap-reason"], headers["hoinhap-reason-detail"], value))
            done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        db = sessions(engine)
        on_events = importlib.import_module(f"services.{service}.handlers").on_events
        table = importlib.import_module(f"services.{service}.models").parked_events
        dead_letters = DeadLetters(send, metrics, service=service, topic_prefix="")
        parking = Parking(
            table,
            on_events,
            db,
            dead_letters,
            metrics,
            topic_prefix="",
            timeout_seconds=timeout_seconds,
            sweep_seconds=3600,
            expiries=getattr(importlib.import_module(f"services.{service}.domain"), "EXPIRIES", None),
        )
        consumer = Consumer(db, parking.apply, dead_letters, metrics, topic_prefix="", retry_seconds=0)
        return Harness(engine, db, parking, consumer, metrics, dead)

    return build
