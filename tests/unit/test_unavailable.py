"""Which database errors mean PostgreSQL is away for now (answered 503 with Retry-After) and which are bugs (500)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from shared.database import unavailable


def wrapped(error: Exception) -> DBAPIError:
    """As SQLAlchemy raises what asyncpg raised during a statement."""
    return DBAPIError("SELECT 1", {}, error)


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory"),  # the socket is gone: stopped
        ConnectionRefusedError(111, "Connect call failed"),
        wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")),
        wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    ],
)
def test_a_database_that_is_away_is_unavailable(error: Exception) -> None:
    assert unavailable(error)


def test_a_broken_rule_or_statement_is_not() -> None:
    assert not unavailable(IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate key")))
    assert not unavailable(wrapped(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist')))
    assert not unavailable(ValueError("nothing to do with the database"))
