"""A rebuild's statements: the shadow schema made afresh, its totals staged and summed, indexed, and swapped in."""

from __future__ import annotations

import asyncio
import logging

from asyncpg.exceptions import DeadlockDetectedError
from sqlalchemy import Index, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex

from services.reporting.changes import views_changed
from services.reporting.models import DAILY_FIGURES, REBUILT, column_of, metadata
from services.reporting.settings import MIGRATIONS
from services.reporting.write.contributions import Contributions
from shared.database import migrate

log = logging.getLogger(__name__)


def shadow_of(schema: str) -> str:
    """The schema a rebuild of `schema` fills before swapping its tables in."""
    return f"{schema}_rebuild"


def _secondary_indexes() -> list[Index]:
    return [index for table in REBUILT for index in metadata.tables[table].indexes]


async def fresh_shadow(shadow: AsyncEngine, schema: str) -> None:
    """The shadow schema created afresh and migrated, its secondary indexes dropped (built once after the replay,
    not row by row) and its tables unlogged while they fill."""
    async with shadow.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await migrate(shadow, schema, MIGRATIONS)
    async with shadow.begin() as conn:
        for index in _secondary_indexes():
            await conn.execute(text(f'DROP INDEX "{schema}"."{index.name}"'))
        for table in REBUILT:  # no WAL while replaying: a rebuild that fails starts again from nothing
            await conn.execute(text(f'ALTER TABLE "{schema}"."{table}" SET UNLOGGED'))


async def index(shadow: AsyncEngine, schema: str) -> None:
    """Make the tables durable (written to the WAL once each, in bulk), build the secondary indexes and gather
    the planner's statistics, before the lock is taken: the service waits only for the catch-up and the swap."""
    async with shadow.begin() as conn:
        for table in REBUILT:  # first: SET LOGGED rewrites a table and every index it has
            await conn.execute(text(f'ALTER TABLE "{schema}"."{table}" SET LOGGED'))
        for secondary in _secondary_indexes():
            await conn.execute(CreateIndex(secondary))  # the shadow engine's search_path is the shadow schema
        for table in REBUILT:  # statistics now, or the first reads after the swap are planned blind
            await conn.execute(text(f'ANALYZE "{schema}"."{table}"'))


async def swap(conn: AsyncConnection, live: str, shadow: str, attempts: int = 5) -> None:
    """Move the live views aside and the rebuilt ones in, in one transaction; readers wait only for it. A deadlock
    with a reader is tried again."""
    for attempt in range(1, attempts + 1):
        try:
            await _swap_once(conn, live, shadow)
            return
        except DBAPIError as error:
            await conn.rollback()
            if not isinstance(error.orig, DeadlockDetectedError) and "deadlock" not in str(error):
                raise
            if attempt == attempts:
                raise
            log.warning("swap met a deadlock with a reader; retrying")
            await asyncio.sleep(0.1 * attempt)


async def _swap_once(conn: AsyncConnection, live: str, shadow: str) -> None:
    old = f"{live}_replaced"
    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{old}" CASCADE'))
    await conn.execute(text(f'CREATE SCHEMA "{old}"'))
    tables = ", ".join(f'"{live}"."{t}"' for t in REBUILT)
    await conn.execute(text(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
    for table in REBUILT:
        await conn.execute(text(f'ALTER TABLE "{live}"."{table}" SET SCHEMA "{old}"'))
    for table in REBUILT:
        await conn.execute(text(f'ALTER TABLE "{shadow}"."{table}" SET SCHEMA "{live}"'))
    await conn.execute(text(f'DROP SCHEMA "{old}" CASCADE'))
    await conn.execute(text(f'DROP SCHEMA "{shadow}" CASCADE'))
    await views_changed(conn, live)
    await conn.commit()


_SUMS = ", ".join(f"sum(s.{column_of(f)})::integer" for f in DAILY_FIGURES)
#: The staged rows are summed into the view in this many concurrent shares, split by unit.
_SHARES = 2


class Staging:
    """Rows of `daily_totals` (every level) appended with COPY to an unindexed table beside it by each replaying
    process, one append in flight at a time (its replay goes on meanwhile); on the rebuild's clean exit, summed by
    key into the empty view, which is made durable first so each row is written to the WAL once; then dropped.
    No index probe or row lock per cell, so the rate does not fall as the tables outgrow the database's buffers."""

    def __init__(self, engine: AsyncEngine, schema: str) -> None:
        self.engine, self.schema = engine, schema
        self.pending: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Staging:
        async with self.engine.begin() as conn:
            await conn.execute(text("CREATE UNLOGGED TABLE daily_staging (LIKE daily_totals)"))
        return self

    async def add(self, contributions: Contributions) -> None:
        await self.settled()
        self.pending = asyncio.create_task(self._copy(contributions))

    async def _copy(self, contributions: Contributions) -> None:
        rows = contributions.rows.values()
        async with self.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # an open asyncpg connection
            await raw.copy_records_to_table("daily_staging", records=rows, schema_name=self.schema)

    async def settled(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def __aexit__(self, kind: object, error: object, traceback: object) -> None:
        if error is not None:
            if self.pending is not None:
                self.pending.cancel()
            return
        async with self.engine.begin() as conn:
            await conn.execute(text('ALTER TABLE "daily_totals" SET LOGGED'))  # empty: nothing to rewrite
            await conn.execute(text('ALTER TABLE "daily_totals" DROP CONSTRAINT "daily_totals_pkey"'))
        await asyncio.gather(*(self._sum(share) for share in range(_SHARES)))
        async with self.engine.begin() as conn:  # one sort, not an index probe per row
            await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            await conn.execute(
                text('ALTER TABLE "daily_totals" ADD CONSTRAINT "daily_totals_pkey" PRIMARY KEY (unit, day, known_on)')
            )
            await conn.execute(text("DROP TABLE daily_staging"))

    async def _sum(self, share: int) -> None:
        """One share of the view's rows, on a connection of its own: the shares are split by unit, so no two shares
        write the same key."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SET LOCAL work_mem = '128MB'"))
            await conn.execute(
                text(
                    f"INSERT INTO daily_totals SELECT unit, day, known_on, {_SUMS} FROM daily_staging s "  # noqa: S608
                    "WHERE abs(hashtext(unit)) % :shares = :share GROUP BY 1, 2, 3"
                ),
                {"shares": _SHARES, "share": share},
            )
