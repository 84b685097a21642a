"""Where the suite keeps what it knows, read whole, to compare and to search: every table and view of the services'
database, every record of every topic, every log line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from shared.database import psql_params
from tests.e2e.conftest import Suite, read_all

#: Relations of the database that are PostgreSQL's own.
_SYSTEM = ("pg_catalog", "information_schema", "pg_toast")


def text(value: Any) -> str:
    return bytes(value).decode(errors="replace") if isinstance(value, bytes | bytearray | memoryview) else str(value)


async def tables(suite: Suite) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table and view in the suite's database, as text, by `schema.relation`."""
    conn = await asyncpg.connect(**psql_params(suite.infra.database_url))
    try:
        relations = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> ALL($1::text[])",
            list(_SYSTEM),
        )
        found = {}
        for r in relations:
            name = f'"{r["table_schema"]}"."{r["table_name"]}"'
            rows = await conn.fetch(f"SELECT * FROM {name}")  # noqa: S608 (names from the catalogue)
            found[f"{r['table_schema']}.{r['table_name']}"] = [tuple(text(v) for v in row.values()) for row in rows]
        return found
    finally:
        await conn.close()


async def snapshot(suite: Suite) -> dict[str, list[tuple[str, ...]]]:
    """`tables`, each sorted, so two snapshots compare equal when nothing changed."""
    return {name: sorted(rows) for name, rows in (await tables(suite)).items()}


async def topics(suite: Suite) -> dict[str, list[str]]:
    """Every record of every topic of the suite (key, value and headers as text), by topic."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=suite.infra.bootstrap_servers)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(suite.infra.topic_prefix)]
    finally:
        await admin.close()
    found: dict[str, list[str]] = {}
    for name in names:
        records = await read_all(suite, name.removeprefix(suite.infra.topic_prefix))
        found[name] = [
            " ".join([text(r.key or b""), text(r.value or b""), *(f"{k}={text(v)}" for k, v in r.headers)])
            for r in records
        ]
    return found


def logs(suite: Suite) -> dict[str, str]:
    """Each service's log file, whole."""
    return {name: Path(p.log).read_text(errors="replace") for name, p in suite.processes.items()}
