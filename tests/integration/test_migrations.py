"""Each service's migrations create exactly the tables its models declare."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from hoinhap.local import SERVICES
from shared.database import migrate
from tests.integration.conftest import migrations_of


def _differences(connection: Connection, metadata: MetaData, schema: str) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"include_name": lambda name, kind, _: not (kind == "table" and name == "alembic_version")},
    )
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migrations_match_the_models(service: str, fresh_schema: tuple[AsyncEngine, str]) -> None:
    engine, schema = fresh_schema
    await migrate(engine, schema, migrations_of(service))
    await migrate(engine, schema, migrations_of(service))  # a second start changes nothing
    metadata = importlib.import_module(f"services.{service}.models").metadata
    async with engine.connect() as conn:
        assert await conn.run_sync(_differences, metadata, schema) == []
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    assert version
