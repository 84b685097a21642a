"""Which database errors mean PostgreSQL is away for now (answered 503 with Retry-After) and which are bugs (500)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from hoinhap.local import free_port
from shared.database import unavailable


def wrapped(error: Exception) -> DBAPIError:
    """As SQLAlchemy raises what asyncpg raised during a statement."""
    return DBAPIError("SELECT 1", {}, error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")),
        wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    ],
)
def test_a_database_that_is_away_is_unavailable(error: Exception) -> None:
    assert unavailable(error)


async def raised_by_connecting(**where: object) -> OSError:
    try:
        await asyncpg.connect(user="postgres", database="postgres", timeout=5, **where)
    except OSError as error:
        return error
    raise AssertionError("connected")


async def test_the_driver_meeting_no_server_is_unavailable(tmp_path: Path) -> None:
    assert unavailable(await raised_by_connecting(host=str(tmp_path)))  # no socket there: the server is stopped
    assert unavailable(await raised_by_connecting(host="127.0.0.1", port=free_port()))  # refused


def test_a_file_the_service_cannot_find_is_not_an_outage() -> None:
    with pytest.raises(FileNotFoundError) as missing:
        (Path(__file__).parent / "no-such-page.html").read_text()
    assert not unavailable(missing.value)


def test_a_broken_rule_or_statement_is_not() -> None:
    assert not unavailable(IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate key")))
    assert not unavailable(wrapped(asyncpg.exceptions.UndefinedTableError('relation "x" does not exist')))
    assert not unavailable(ValueError("nothing to do with the database"))
