"""PostgreSQL access every service shares: the engine on its own schema, and Alembic migrations run at start."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import ColumnElement, MetaData, Text, any_, literal, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def asyncpg_url(url: str) -> str:
    """`postgresql://user@host/db` as SQLAlchemy's asyncpg dialect wants it."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def psql_params(url: str) -> dict[str, str | int | None]:
    """Connection parameters for asyncpg, whichever form `url` takes (TCP or a `host=` socket directory)."""
    parsed = make_url(url)
    host = parsed.query.get("host") or parsed.host
    return {
        "host": host if isinstance(host, str) else None,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
    }


def create_engine(url: str, schema: str, *, pool_size: int = 5) -> AsyncEngine:
    """An engine whose connections see `schema` first, so a service's tables need no qualifier."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        pool_pre_ping=True,  # a PostgreSQL restart leaves dead pooled connections behind
        hide_parameters=True,  # errors are logged, and a statement's parameters may describe a person
        connect_args={"server_settings": {"search_path": schema, "application_name": f"hoinhap-{schema}"}},
    )


def unavailable(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says PostgreSQL cannot be reached right now: refused, gone, shutting
    down or starting up, a connection dropped; not a bad statement or a broken rule."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _CONNECTION_ERRORS) or (isinstance(current, OSError) and _from_the_driver(current)):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _from_the_driver(error: OSError) -> bool:
    """Whether the driver met this OS error (refused, no socket, reset, timed out), not the service's own code (a
    missing file is not an outage)."""
    frame = error.__traceback__
    while frame is not None:
        if str(frame.tb_frame.f_globals.get("__name__", "")).startswith(("asyncpg.", "sqlalchemy.")):
            return True
        frame = frame.tb_next
    return False


_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,  # the connection was lost in the middle of a statement
    asyncpg.exceptions.OperatorInterventionError,  # starting up, shutting down, terminated by the administrator
    asyncpg.InterfaceError,  # a connection already closed
)


def any_of(values: Iterable[str]) -> ColumnElement[Any]:
    """`column == any_of(values)`: one text array parameter, so one statement (prepared once per connection)
    whatever the number of values; `column.in_(values)` renders a parameter per value, a new statement per count."""
    return any_(literal(list(values), ARRAY(Text)))


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def migrate(engine: AsyncEngine, schema: str, migrations: Path) -> None:
    """Bring `schema` to the newest revision in `migrations`; replicas starting together take turns."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"hoinhap-migrate-{schema}"})
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(_upgrade, schema, migrations)


def _upgrade(connection: Connection, schema: str, migrations: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")


def create_inbox_and_outbox() -> None:
    """Migration step of every service's first revision. Frozen: change the tables in a new revision."""
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )


def keep_published_outbox_rows() -> None:
    """Migration step of the outbox-retention revision (0005; reporting's 0006): published rows stay, marked, for a
    retention period (so that they can be replayed to a broker that lost them). Frozen: change the table in a new
    revision."""
    op.add_column("outbox", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL"))


def forget_published_outbox_rows() -> None:
    """The downgrade of `keep_published_outbox_rows`: published rows go, as they used to."""
    op.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")
    op.drop_index("outbox_unpublished", "outbox")
    op.drop_column("outbox", "published_at")


def run_migrations(metadata: MetaData) -> None:
    """The body of every service's Alembic `env.py`: migrate on the connection `migrate` hands over."""
    connection: Connection = context.config.attributes["connection"]
    schema: str = context.config.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_name=lambda name, kind, _: not (kind == "table" and name == "alembic_version"),
    )
    with context.begin_transaction():
        context.run_migrations()
