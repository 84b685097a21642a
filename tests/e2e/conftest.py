"""The four services as separate OS processes against this run's broker and database."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from hoinhap import local
from shared.database import psql_params
from tests.infra import Infra, with_database

T = TypeVar("T")

#: Registered in every suite before its tests run: the facility the tests admit into unless they need another.
STANDARD_FACILITY = "hn-cs3"
_STANDARD_ENTRY = {
    "name": "Cơ sở cai nghiện ma túy số 3 Hà Nội",
    "unit": "00070",
    "capacity": {
        m: 100_000 for m in ("compulsory", "voluntary_facility", "methadone", "temporary_stay", "status_determination")
    },
}


@dataclass
class Suite:
    processes: dict[str, local.ServiceProcess]
    token: str
    infra: Infra

    def url(self, service: str) -> str:
        return self.processes[service].url

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url(service), headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def topic(self, name: str) -> str:
        return self.infra.topic_prefix + name

    async def fetch(self, sql: str, *args: object) -> list[dict[str, Any]]:
        """Rows of the services' own tables (`intake.episodes`, ...), read as an auditor would."""
        conn = await asyncpg.connect(**psql_params(self.infra.database_url))
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()


async def _register_standard_facility(suite: Suite) -> None:
    async with suite.client("facility") as facility:
        response = await facility.put(f"/v1/facilities/{STANDARD_FACILITY}", json=_STANDARD_ENTRY)
    assert response.status_code in (200, 201), response.text

    async def known_to_intake() -> bool:
        return bool(await suite.fetch("SELECT 1 FROM intake.facilities WHERE facility_id = $1", STANDARD_FACILITY))

    assert await eventually(known_to_intake, True, timeout=90)


@contextmanager
def running_suite(infra: Infra, env: dict[str, str], admin_token: str, logs: Path) -> Iterator[Suite]:
    """Start the four services, register the standard facility, and stop them afterwards."""
    logs.mkdir(parents=True, exist_ok=True)
    processes = {
        name: local.ServiceProcess(name, local.free_port(), env, logs / f"{name}.log").start()
        for name in local.SERVICES
    }
    try:
        for process in processes.values():
            process.wait_ready(timeout=90)
        suite = Suite(processes, admin_token, infra)
        asyncio.run(_register_standard_facility(suite))
        yield suite
    finally:
        for process in processes.values():
            process.stop()


async def _sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(**psql_params(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def isolated_suite(infra: Infra, service_env: dict[str, str], admin_token: str, logs: Path) -> Iterator[Suite]:
    """A suite with a database and topics of its own, so what it does never touches the shared suite."""
    run = uuid.uuid4().hex[:8]
    database = f"hoinhap_own_{run}"
    asyncio.run(_sql(infra.database_url, f'CREATE DATABASE "{database}"'))
    own = dataclasses.replace(
        infra,
        database_url=with_database(infra.database_url, database),
        topic_prefix=f"{infra.topic_prefix}o{run}.",
    )
    env = {**os.environ, **service_env, "DATABASE_URL": own.database_url, "HOINHAP_TOPIC_PREFIX": own.topic_prefix}
    try:
        with running_suite(own, env, admin_token, logs) as suite:
            yield suite
    finally:
        asyncio.run(_sql(infra.database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def suite(infra: Infra, service_env: dict[str, str], admin_token: str, artifacts: Path) -> Iterator[Suite]:
    # Events left waiting for what they follow are dead-lettered after 15 s rather than a day.
    parking = {"HOINHAP_PARKING_TIMEOUT_SECONDS": "15", "HOINHAP_PARKING_SWEEP_SECONDS": "1"}
    with running_suite(infra, {**os.environ, **service_env, **parking}, admin_token, artifacts / "e2e-logs") as s:
        yield s


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer, for publishing straight to the topics as an outside agency or an attacker would."""
    p = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def eventually(probe: Callable[[], Awaitable[T]], expected: T, timeout: float = 30) -> T:
    """Poll `probe` until it returns `expected`; return its last answer (which the caller asserts on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value == expected or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def read_all(suite: Suite, *topics: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the topics, from the beginning to their current end."""
    consumer: AIOKafkaConsumer = AIOKafkaConsumer(
        bootstrap_servers=suite.infra.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetch the metadata
        names = [suite.topic(t) for t in topics]
        partitions = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(batch)
        return found
    finally:
        await consumer.stop()
