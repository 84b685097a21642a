"""Each service's migrations create exactly the tables its models declare."""

from __future__ import annotations

import importlib
from datetime import date
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
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


def _to(connection: Connection, schema: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_of("reporting")))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    if revision == "0006" and connection.execute(text("SELECT to_regclass('alembic_version')")).scalar():
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


OLD_CELLS = {
    "indicator_totals": [
        ("admissions.compulsory", "00070", date(2024, 3, 1), date(2024, 3, 9), 4),
        ("admissions.primary_ats", "01", date(2024, 3, 1), date(2024, 4, 2), 2),
        ("relapses", "VN", date(2023, 12, 1), date(2024, 1, 5), 1),
    ],
    "census_changes": [
        ("00070", "compulsory", date(2024, 3, 9), date(2024, 3, 9), 4),
        ("01", "methadone", date(2024, 3, 1), date(2024, 4, 2), -1),
    ],
}


async def test_reporting_0007_moves_the_cells_into_daily_totals_and_back(fresh_schema: tuple[AsyncEngine, str]) -> None:
    """An upgraded schema reads the same figures (counters over whole months, census by day); a downgrade gives the
    old rows back."""
    engine, schema = fresh_schema
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(_to, schema, "0006")
        for table, rows in OLD_CELLS.items():
            for row in rows:
                values = dict(zip("abcde", row, strict=True))
                await conn.execute(text(f"INSERT INTO {table} VALUES (:a, :b, :c, :d, :e)"), values)  # noqa: S608
        await conn.run_sync(_to, schema, "head")
        march = (
            await conn.execute(
                text(
                    "SELECT sum(admissions_compulsory), sum(admissions_primary_ats) FROM daily_totals "
                    "WHERE day BETWEEN '2024-03-01' AND '2024-03-31' AND unit = ANY(ARRAY['00070', '01'])"
                )
            )
        ).one()
        assert tuple(march) == (4, 2)
        census = await conn.execute(
            text("SELECT unit, day, residents_compulsory, residents_methadone FROM daily_totals ORDER BY 1, 2")
        )
        assert [tuple(r) for r in census if r[2] or r[3]] == [
            ("00070", date(2024, 3, 9), 4, 0),
            ("01", date(2024, 3, 1), 0, -1),
        ]
        await conn.run_sync(_to, schema, "0006")
        for table, rows in OLD_CELLS.items():
            back = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))  # noqa: S608
            assert [tuple(r) for r in back] == sorted(rows)
