"""Reporting's kept reads: served again only to callers who may see them, and emptied by a commit in any process."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from hoinhap import local
from services.reporting.changes import channel
from services.reporting.models import DAILY_FIGURES, column_of
from shared.database import psql_params
from shared.events import new_event, serialize, topic_of
from tests.builders import HANOI_WARD, an_admission
from tests.e2e.conftest import Suite, eventually
from tests.e2e.test_access import as_agency, issue

pytestmark = pytest.mark.e2e

READ = "/v1/indicators/admissions.total?unit=01&period=2012-05"


@pytest.fixture(scope="module")
def reader(suite: Suite, artifacts: Path) -> Iterator[local.ServiceProcess]:
    """A second reporting process on the suite's views that consumes nothing (its topics are its own, and empty):
    what it shows of the suite's events, the suite's reporting applied and committed."""
    env = {**suite.processes["reporting"].env, "HOINHAP_TOPIC_PREFIX": f"{suite.infra.topic_prefix}reader."}
    process = local.ServiceProcess("reporting", local.free_port(), env, artifacts / "reader.log").start()
    try:
        process.wait_ready(timeout=90)
        yield process
    finally:
        process.stop()


async def value_on(process: local.ServiceProcess, token: str) -> Any:
    async with httpx.AsyncClient(base_url=process.url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.get(READ)
    assert response.status_code == 200, response.text
    return response.json()


KEPT = [READ, "/v1/indicators?unit=01&period=2012", "/v1/indicators/completions/units?unit=01&period=2012-05"]


@pytest.mark.parametrize("read", KEPT)
async def test_a_kept_read_is_served_again_only_to_a_caller_who_may_see_its_unit(suite: Suite, read: str) -> None:
    async with suite.client("reporting") as operator:
        first = await operator.get(read)
        again = await operator.get(read)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    hanoi = await issue(suite, "reporting", "hanoi-reader", ["01"])
    dongnai = await issue(suite, "reporting", "dongnai-reader", ["75"])
    async with as_agency(suite, "reporting", hanoi["token"]) as client:
        assert (await client.get(read)).content == first.content
    async with as_agency(suite, "reporting", dongnai["token"]) as client:
        refused = await client.get(read)
    assert refused.status_code == 403 and "outside the jurisdiction" in refused.json()["detail"]
    for token in (None, "not-a-token", hanoi["token"][:-2] + "xx"):
        async with as_agency(suite, "reporting", token) as client:
            assert (await client.get(read)).status_code == 401, token
    async with httpx.AsyncClient(base_url=suite.url("reporting"), headers={"Authorization": "Basic eDp5"}) as client:
        assert (await client.get(read)).status_code == 401


async def test_another_process_shows_a_commit_at_once_not_when_its_kept_read_grows_old(
    suite: Suite, reader: local.ServiceProcess, producer: AIOKafkaProducer
) -> None:
    """The reader keeps its reads for 300 s; a target set and an event applied by the suite's reporting show in it
    within seconds, because each commit tells every process to forget what it kept."""
    before = await value_on(reader, suite.token)
    assert await value_on(reader, suite.token) == before  # kept now
    target = {
        "indicator_id": "admissions.total",
        "unit": "01",
        "period": "2012-05",
        "value": 1 + secrets.randbelow(900),
    }
    async with suite.client("reporting") as operator:
        response = await operator.put("/v1/targets", json=target | {"source_document": "KH số 1/KH-UBND"})
    assert response.status_code in (200, 201), response.text

    async def target_seen() -> Any:
        return (await value_on(reader, suite.token))["target"]

    assert await eventually(target_seen, target["value"], timeout=5) == target["value"]

    admitted = an_admission(admitted_on=date(2012, 5, 9), unit=HANOI_WARD)
    event = new_event(admitted, subject=secrets.token_hex(32), source="/vn/t", time=datetime(2012, 5, 9, tzinfo=UTC))
    await producer.send_and_wait(topic_of(event.type, suite.infra.topic_prefix), serialize(event), key=b"k")

    async def value_seen() -> Any:
        return (await value_on(reader, suite.token))["value"]

    assert await eventually(value_seen, before["value"] + 1, timeout=30) == before["value"] + 1


async def test_without_its_change_notices_a_process_keeps_no_reads(suite: Suite, reader: local.ServiceProcess) -> None:
    """Cut the reader's listening connection: until it listens again it renders every read, so a change it could
    not hear of (made here straight in the table, as a commit elsewhere would be) shows at once."""
    schema = reader.env.get("HOINHAP_REPORTING_DB_SCHEMA", "reporting")
    before = (await value_on(reader, suite.token))["value"]
    assert (await value_on(reader, suite.token))["value"] == before  # kept now
    conn = await asyncpg.connect(**psql_params(suite.infra.database_url))
    try:
        cut = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            f"hoinhap-{schema}-changes",
        )
        assert cut == 2  # the suite's reporting and the reader
        await asyncio.sleep(0.5)  # the connection's end reaches the processes
        await _add_to_the_view(conn, schema, 1000)
        try:
            shown = (await value_on(reader, suite.token))["value"]
        finally:
            await _add_to_the_view(conn, schema, -1000)
            await _tell(conn, schema)
    finally:
        await conn.close()
    assert shown == before + 1000


async def _add_to_the_view(conn: asyncpg.Connection, schema: str, value: int) -> None:
    """Add `value` to admissions and completions on 1 May 2012 (what the reads here ask for) at every level, without
    telling anyone."""
    added = ("admissions.compulsory", "completions.compulsory")
    values = ", ".join("$2" if figure in added else "0" for figure in DAILY_FIGURES)
    columns = ", ".join(f"{c} = t.{c} + $2" for c in map(column_of, added))
    for unit in (HANOI_WARD, "01", "VN"):
        await conn.execute(
            f"INSERT INTO \"{schema}\".daily_totals AS t VALUES ($1, DATE '2012-05-01', DATE '2012-05-20', "  # noqa: S608
            f"{values}) ON CONFLICT (unit, day, known_on) DO UPDATE SET {columns}",
            unit,
            value,
        )


@pytest.mark.parametrize("read", KEPT)
async def test_a_read_is_kept_until_a_commit_says_the_views_changed(
    suite: Suite, reader: local.ServiceProcess, read: str
) -> None:
    """Change the view behind the reader's back: it keeps answering what it rendered, until told of a change. (A
    commit by the suite's reporting in between tells it too: then the round is tried again.)"""
    schema = reader.env.get("HOINHAP_REPORTING_DB_SCHEMA", "reporting")
    headers = {"Authorization": f"Bearer {suite.token}"}
    conn = await asyncpg.connect(**psql_params(suite.infra.database_url))
    try:
        async with httpx.AsyncClient(base_url=reader.url, headers=headers) as client:
            for _ in range(10):
                await asyncio.sleep(0.3)  # a reader that lost its listening connection (above) takes it up again
                kept = (await client.get(read)).content
                await _add_to_the_view(conn, schema, 1000)
                try:
                    if (await client.get(read)).content == kept:
                        await _tell(conn, schema)
                        for _ in range(40):  # delivered on commit, heard within milliseconds
                            if (changed := (await client.get(read)).content) != kept:
                                break
                            await asyncio.sleep(0.05)
                        assert changed != kept
                        return
                finally:
                    await _add_to_the_view(conn, schema, -1000)
                    await _tell(conn, schema)
    finally:
        await conn.close()
    pytest.fail("the reader rendered the read again every time: nothing was kept")


async def _tell(conn: asyncpg.Connection, schema: str) -> None:
    """What a commit to the views says to every reporting process."""
    await conn.execute("SELECT pg_notify($1, '')", channel(schema))
