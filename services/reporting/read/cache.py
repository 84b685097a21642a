"""Rendered reads kept until the views change, and served again before routing.

Every transaction that changes what a read shows (a batch applied, a target set, a rebuild's swap) sends a NOTIFY on
the schema's channel (`changes.views_changed`); each reporting process LISTENs on it (`listen`) and empties its
cache when told, on commit, so another replica's batches or a rebuild show here as soon as they show in the tables.
While that connection is down the cache keeps nothing. `seconds` bounds an entry's age all the same.

A read found here (`CachedReads`) is answered before FastAPI routes it, to a caller the full path would answer the
same: the token is resolved as the full path resolves it and must cover the read's unit; anything else (no entry, no
token, another unit) goes the full way, which renders it or refuses it with its own error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import asyncpg
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.reporting.changes import channel
from shared.auth import Authenticate
from shared.database import psql_params

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """A rendered JSON read, the unit it is about (who may see it) and its route (for the request metrics)."""

    body: bytes
    unit: str
    route: Any


class ReadCache:
    """Rendered reads by (path, query string), and what they are rendered from (`computed`); `version` counts the
    changes this process has been told of."""

    def __init__(self, seconds: float, size: int = 8192, computing: int = 4) -> None:
        self.seconds = seconds
        self.size = size
        self.version = 0
        self.listening = False
        self._entries: dict[Hashable, tuple[float, Entry]] = {}
        self._computed: dict[Hashable, tuple[float, asyncio.Task[Any]]] = {}
        self._computing = asyncio.Semaphore(computing)

    def changed(self) -> None:
        """The views (or the targets) changed: nothing rendered or computed before is current."""
        self.version += 1
        self._entries.clear()
        self._computed.clear()

    async def computed(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """What `compute` gives for `key`, worked out once while the views stay as they are: reads asking for it
        meanwhile wait for the same computation, and at most `computing` computations run at once, so the reads
        already kept are answered between them rather than behind them."""
        found = self._computed.get(key)
        if found is not None and time.monotonic() - found[0] <= self.seconds:
            result: T = await asyncio.shield(found[1])
            return result
        task = asyncio.get_running_loop().create_task(self._limited(compute))
        if self.listening and self.seconds > 0:
            if len(self._computed) >= self.size:
                self._computed.pop(next(iter(self._computed)))  # the oldest
            self._computed[key] = (time.monotonic(), task)
            task.add_done_callback(partial(self._forget_failed, key))
        return await asyncio.shield(task)

    async def _limited(self, compute: Callable[[], Awaitable[T]]) -> T:
        async with self._computing:
            return await compute()

    def _forget_failed(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if (task.cancelled() or task.exception() is not None) and self._computed.get(key, (0, None))[1] is task:
            del self._computed[key]

    def get(self, key: Hashable) -> Entry | None:
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] > self.seconds:
            return None
        return found[1]

    def put(self, version: int, started: float, request: Request, body: bytes, unit: str) -> None:
        """Keep `body`, the JSON rendered for `request` (about `unit`) from reads begun at `started` (monotonic) when
        the version was `version`, unless the views changed since or no change could be heard: such a read is
        served, not kept."""
        if version != self.version or not self.listening or self.seconds <= 0:
            return
        if len(self._entries) >= self.size:
            self._entries.pop(next(iter(self._entries)))  # the oldest
        self._entries[_key(request.scope)] = (started, Entry(body, unit, request.scope["route"]))


class CachedReads:
    """ASGI middleware: answer a GET whose rendered read is kept, if the caller may see its unit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            state = scope["app"].state
            entry = state.read_cache.get(_key(scope))
            if entry is not None and await _may_see(state.authenticate, scope, entry.unit):
                scope["route"] = entry.route
                headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(entry.body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": entry.body})
                return
        await self.app(scope, receive, send)


def _key(scope: Scope) -> tuple[str, bytes]:
    """A kept read's key: its path and raw query string."""
    return scope["path"], scope["query_string"]


async def _may_see(authenticate: Authenticate, scope: Scope, unit: str) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return False
            principal = await authenticate(token)
            return principal is not None and principal.covers(unit)
    return False


async def listen(database_url: str, schema: str, cache: ReadCache, check_seconds: float = 5.0) -> None:
    """Empty `cache` on every change to the views, as long as the service runs; keep it off while not listening."""
    while True:
        try:
            await _hear(database_url, schema, cache, check_seconds)
            log.warning("lost the connection that hears of view changes; reads are not cached until it is back")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("not hearing of view changes (%s); reads are not cached until it is back", type(error).__name__)
        await asyncio.sleep(0.5)


async def _hear(database_url: str, schema: str, cache: ReadCache, check_seconds: float) -> None:
    """Listen on one connection until it is lost."""
    lost = asyncio.Event()

    def ended(_: object) -> None:
        _deaf(cache)
        lost.set()

    conn = await asyncpg.connect(
        **psql_params(database_url), server_settings={"application_name": f"hoinhap-{schema}-changes"}
    )
    try:
        conn.add_termination_listener(ended)
        await conn.add_listener(channel(schema), lambda *_: cache.changed())
        cache.changed()  # whatever changed while nobody listened
        cache.listening = True
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), check_seconds)
                return
            await conn.execute("SELECT 1")  # a connection lost without a word shows here
    finally:
        _deaf(cache)
        conn.terminate()


def _deaf(cache: ReadCache) -> None:
    cache.listening = False
    cache.changed()
