"""Each service's HTTP application in this process (`create_app`, called through `httpx.ASGITransport`) on a real
PostgreSQL, with no broker: the app's lifespan is not run, so nothing connects to Kafka; its schema is migrated
here. What a route writes is read back from its tables, outbox and audit log."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting import handlers as reporting_handlers
from services.reporting.write.db import consumer_sessions
from shared.consumer import Deferred
from shared.database import migrate
from shared.events import Event, parse_event
from shared.parking import Parking
from shared.runtime import Runtime
from tests.infra import provision_database


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with provision_database() as url:
        yield url


@dataclass
class Api:
    """One service's application, its client (no token unless a test passes one) and its tables."""

    app: FastAPI
    client: httpx.AsyncClient
    admin_token: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.runtime.sessions

    def as_operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    async def token(self, *units: str, agency: str = "test-agency") -> dict[str, str]:
        """Headers with a new agency token for `units`, issued by the operator on this service."""
        issued = await self.client.post(
            "/v1/tokens", json={"agency": agency, "units": list(units)}, headers=self.as_operator()
        )
        assert issued.status_code == 201, issued.text
        return {"Authorization": f"Bearer {issued.json()['token']}"}

    async def rows(self, sql: str, **params: object) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            return [dict(r) for r in (await s.execute(text(sql), params)).mappings()]

    async def published(self, event_type: str) -> list[Event]:
        """The events of a type the service staged in its outbox, oldest first."""
        rows = await self.rows("SELECT payload FROM outbox WHERE event_type = :t ORDER BY id", t=event_type)
        return [parse_event(r["payload"]) for r in rows]

    async def consume(self, *events: Event) -> None:
        """Apply events as the service's consumer would, in one transaction (inbox, parking and all)."""
        handlers = importlib.import_module(f"services.{self.runtime.settings.service}.handlers")
        parked = importlib.import_module(f"services.{self.runtime.settings.service}.models").parked_events
        parking = Parking.of(self.runtime, parked, handlers.on_events)
        async with self.sessions.begin() as s:
            await parking.apply(s, list(events))

    async def consume_into_views(self, *events: Event) -> list[Event]:
        """Apply events to reporting's views as its consumer does: the handler and the rest it defers, in one
        transaction under the rebuild lock taken shared, then what follows the commit. Returns the events applied."""
        schema = self.runtime.settings.db_schema
        async with consumer_sessions(self.runtime.engine, schema).begin() as s:
            done = await reporting_handlers.on_events(s, list(events), schema=schema)
            if isinstance(done, Deferred):
                await done.rest()
        applied = done.events if isinstance(done, Deferred) else done
        reporting_handlers.after_commit(self.runtime.metrics, self.app.state.read_cache, applied)
        return applied


async def _api(service: str, database_url: str) -> AsyncIterator[Api]:
    schema = f"api_{service}_{secrets.token_hex(4)}"
    admin_token = secrets.token_urlsafe(24)
    settings = importlib.import_module(f"services.{service}.settings")
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never connected to: the lifespan does not run
        "HOINHAP_ADMIN_TOKEN": admin_token,
        "subject_key": "api-test-subject-key",
        "db_schema": schema,
    }
    app = importlib.import_module(f"services.{service}.app").create_app(settings.Settings(**env))
    runtime: Runtime = app.state.runtime
    await migrate(runtime.engine, schema, settings.MIGRATIONS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
        yield Api(app, client, admin_token)
    await runtime.engine.dispose()


@pytest.fixture(scope="session")
async def intake(database_url: str) -> AsyncIterator[Api]:
    async for api in _api("intake", database_url):
        yield api


@pytest.fixture(scope="session")
async def facility(database_url: str) -> AsyncIterator[Api]:
    async for api in _api("facility", database_url):
        yield api


@pytest.fixture(scope="session")
async def aftercare(database_url: str) -> AsyncIterator[Api]:
    async for api in _api("aftercare", database_url):
        yield api


@pytest.fixture(scope="session")
async def reporting(database_url: str) -> AsyncIterator[Api]:
    async for api in _api("reporting", database_url):
        yield api
