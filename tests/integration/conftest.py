"""One service's tables in this run's database, in a schema of the test's own."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import create_engine, migrate
from tests.infra import Infra


def migrations_of(service: str) -> Path:
    return Path(importlib.import_module(f"services.{service}").__file__ or "").parent / "migrations"


@pytest.fixture
async def fresh_schema(infra: Infra) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """An engine on an empty schema; the test migrates whichever service it needs into it."""
    schema = f"s_{uuid.uuid4().hex[:12]}"
    engine = create_engine(infra.database_url, schema)
    try:
        yield engine, schema
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def facility_db(fresh_schema: tuple[AsyncEngine, str]) -> AsyncEngine:
    engine, schema = fresh_schema
    await migrate(engine, schema, migrations_of("facility"))
    return engine
