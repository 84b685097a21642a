"""Reporting's sessions: the consumer's transactions take the rebuild lock shared, so a rebuild can pause them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session


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
