"""The projector's statements and sessions: the bulk writes of a batch, and the rebuild lock its transactions take.

The statements run once per batch for every event: they take their parameters as arrays and give back plain
records, with nothing to do per event in between. They decide nothing; `projections.py` says what a row adds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from services.reporting.models import DAILY_FIGURES, column_of
from shared.events import Event, TransferredEvent


def rebuild_lock(schema: str) -> str:
    """The name of the advisory lock a rebuild holds exclusively while it catches up and swaps the views in."""
    return f"hoinhap-reporting-rebuild-{schema}"


_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtext(:name))")


def consumer_sessions(engine: AsyncEngine, schema: str) -> async_sessionmaker[AsyncSession]:
    """Sessions whose every transaction first takes the rebuild lock shared: consumers never wait on each other,
    and a rebuild's swap waits for the batches in flight and holds back the next ones."""

    class LockedSession(Session):
        pass

    def take_lock(_session: Session, _transaction: Any, connection: Any) -> None:
        connection.execute(_SHARED, {"name": rebuild_lock(schema)})

    event.listen(LockedSession, "after_begin", take_lock)
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=LockedSession)


@asynccontextmanager
async def rebuild_lock_held(conn: AsyncConnection, schema: str) -> AsyncIterator[None]:
    """Hold the rebuild lock exclusively (on the connection, across its transactions): the service finishes its
    batch in flight and waits."""
    lock = {"name": rebuild_lock(schema)}
    await conn.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), lock)
    await conn.commit()
    try:
        yield
    finally:
        await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), lock)
        await conn.commit()


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under a session's transaction."""
    connection = (await (await session.connection()).get_raw_connection()).driver_connection
    assert connection is not None  # an open asyncpg connection
    return connection


_ADMIT = """
    INSERT INTO episodes AS e (episode_id, subject, ward, province, modality, facility_id, admitted_on, admitted_known)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[],
                         $8::date[])
    ON CONFLICT (episode_id) DO UPDATE SET
        subject = EXCLUDED.subject, ward = EXCLUDED.ward, province = EXCLUDED.province,
        modality = EXCLUDED.modality, facility_id = EXCLUDED.facility_id,
        admitted_on = EXCLUDED.admitted_on, admitted_known = EXCLUDED.admitted_known
    WHERE e.admitted_on IS NULL
    RETURNING e.episode_id, e.completed_on, e.outcome, e.vocational, e.completed_known
"""


async def upsert_admissions(session: AsyncSession, *columns: Sequence[Any]) -> list[asyncpg.Record]:
    """Admissions written where their episode has none yet (id, subject, ward, province, modality, facility,
    admitted on, known on); gives back each written one's end, if already recorded."""
    rows: list[asyncpg.Record] = await (await driver(session)).fetch(_ADMIT, *columns)
    return rows


_END = """
    INSERT INTO episodes AS e (episode_id, completed_on, outcome, vocational, completed_known)
    SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::boolean[], $5::date[])
    ON CONFLICT (episode_id) DO UPDATE SET
        completed_on = EXCLUDED.completed_on, outcome = EXCLUDED.outcome, vocational = EXCLUDED.vocational,
        completed_known = EXCLUDED.completed_known
    WHERE e.completed_on IS NULL
    RETURNING e.episode_id, e.ward, e.modality, e.admitted_on, e.admitted_known
"""


async def upsert_ends(session: AsyncSession, *columns: Sequence[Any]) -> list[asyncpg.Record]:
    """Ends written where their episode has none yet (id, completed on, outcome, vocational, known on); gives back
    each written one's admission, if already recorded."""
    rows: list[asyncpg.Record] = await (await driver(session)).fetch(_END, *columns)
    return rows


_TRANSFER = text(
    """
    INSERT INTO transfers (event_id, episode_id, transferred_on, from_facility_id, to_facility_id, known_on)
    SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:episodes AS text[]), CAST(:days AS date[]),
                         CAST(:froms AS text[]), CAST(:tos AS text[]), CAST(:known AS date[]))
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)


async def insert_transfers(session: AsyncSession, ordered: Sequence[TransferredEvent], known: list[Any]) -> list[Event]:
    """The transfers not recorded before, recorded (in the given order, by event id)."""
    result = await session.execute(
        _TRANSFER,
        {
            "ids": [e.id for e in ordered],
            "episodes": [e.data.episode_id for e in ordered],
            "days": [e.data.transferred_on for e in ordered],
            "froms": [e.data.from_facility_id for e in ordered],
            "tos": [e.data.to_facility_id for e in ordered],
            "known": known,
        },
    )
    written = set(result.scalars())
    return [e for e in ordered if e.id in written]


_COLUMNS = [column_of(figure) for figure in DAILY_FIGURES]
#: A batch's rows go to a table of the connection's own by COPY (several times cheaper than as array parameters,
#: which PostgreSQL receives element by element, zeros included), then into the view in one statement.
_BATCH_TABLE = text("CREATE TEMPORARY TABLE IF NOT EXISTS daily_batch (LIKE daily_totals) ON COMMIT DELETE ROWS")
_TOTALS = text(
    f"""
    INSERT INTO daily_totals AS t SELECT * FROM daily_batch ORDER BY unit, day, known_on
    ON CONFLICT (unit, day, known_on) DO UPDATE SET {", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in _COLUMNS)}
    """  # noqa: S608 - the columns are the catalogue's own
)


async def write_totals(session: AsyncSession, rows: Collection[list[Any]]) -> None:
    """Add a batch's rows of `daily_totals` to the view: `stage_totals`, then `merge_totals`."""
    if not rows:
        return
    await stage_totals(session, rows)
    await merge_totals(session)


async def stage_totals(session: AsyncSession, rows: Collection[list[Any]]) -> None:
    """Copy a batch's rows into the transaction's own table (no other transaction sees it or waits on it)."""
    await session.execute(_BATCH_TABLE)
    await (await driver(session)).copy_records_to_table("daily_batch", records=rows)


async def merge_totals(session: AsyncSession) -> None:
    """Add the staged rows to the views in one statement, in key order: one lock order for every replica, so no
    deadlocks between them. (A row that a +1 and a -1 of one batch left at zero adds nothing.)"""
    await session.execute(_TOTALS)
