"""Reporting's kept reads: what they are computed from, and the channel that says they are out of date."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request

from services.reporting.changes import channel
from services.reporting.read.cache import ReadCache


def test_every_schema_gets_a_channel_postgresql_accepts_and_its_own() -> None:
    names = ["reporting", "reporting_fresh", "r" * 49, "r" * 50, "báo_cáo_" * 10, "s" * 200, "s" * 201]
    channels = [channel(n) for n in names]
    assert all(len(c.encode()) <= 63 for c in channels)  # NAMEDATALEN - 1: pg_notify refuses longer
    assert len(set(channels)) == len(names)
    assert channel("reporting") == "hoinhap_views_reporting"


def listening_cache(computing: int = 4) -> ReadCache:
    cache = ReadCache(seconds=300, computing=computing)
    cache.listening = True
    return cache


async def test_what_reads_are_rendered_from_is_computed_once_until_the_views_change() -> None:
    cache, calls = listening_cache(), []

    async def compute() -> int:
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls)

    assert await asyncio.gather(*(cache.computed("k", compute) for _ in range(5))) == [1] * 5  # one for all
    assert await cache.computed("k", compute) == 1
    assert await cache.computed("other", compute) == 2
    cache.changed()
    assert await cache.computed("k", compute) == 3


async def test_a_failed_computation_or_one_while_not_listening_is_not_kept() -> None:
    cache, calls = listening_cache(), []

    async def failing() -> int:
        calls.append(1)
        raise ConnectionError("database unavailable")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await cache.computed("k", failing)
    assert len(calls) == 2
    cache.listening = False

    async def compute() -> int:
        calls.append(1)
        return len(calls)

    assert [await cache.computed("k", compute) for _ in range(2)] == [3, 4]


async def test_at_most_so_many_computations_run_at_once() -> None:
    cache, running, most = listening_cache(computing=3), 0, 0

    async def compute() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    await asyncio.gather(*(cache.computed(n, compute) for n in range(20)))
    assert most == 3


def a_read(path: str = "/v1/indicators/admissions.total") -> Request:
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"unit=01&period=2024", "headers": []}
    return Request({**scope, "route": object()})


def test_a_rendered_read_is_kept_only_while_listening_and_only_if_no_change_came_during_it() -> None:
    cache, read = listening_cache(), a_read()
    key = (read.scope["path"], read.scope["query_string"])
    cache.put(cache.version, time.monotonic(), read, b"{}", "01")
    kept = cache.get(key)
    assert kept is not None and (kept.body, kept.unit) == (b"{}", "01")

    cache.changed()
    began = cache.version
    cache.changed()  # a batch committed while the read was rendered: its body may be from before it
    cache.put(began, time.monotonic(), read, b"{}", "01")
    assert cache.get(key) is None

    cache.listening = False  # a change now would not be heard
    cache.put(cache.version, time.monotonic(), read, b"{}", "01")
    assert cache.get(key) is None
