"""A suite of its own for tests that kill and restart services: its own database and topics, so the other
tests' suite never sees a process die."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from hoinhap import local
from tests.e2e.conftest import Suite, running_suite
from tests.infra import Infra


async def _sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(**local.psql_params(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def restartable(infra: Infra, service_env: dict[str, str], admin_token: str, artifacts: Path) -> Iterator[Suite]:
    run = uuid.uuid4().hex[:8]
    database = f"hoinhap_faults_{run}"
    asyncio.run(_sql(infra.database_url, f'CREATE DATABASE "{database}"'))
    own = dataclasses.replace(
        infra,
        database_url=local.with_database(infra.database_url, database),
        topic_prefix=f"{infra.topic_prefix}f{run}.",
    )
    env = {**os.environ, **service_env, "DATABASE_URL": own.database_url, "HOINHAP_TOPIC_PREFIX": own.topic_prefix}
    try:
        with running_suite(own, env, admin_token, artifacts / "faults-logs") as suite:
            yield suite
    finally:
        asyncio.run(_sql(infra.database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
