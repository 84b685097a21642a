"""Reporting's views on real PostgreSQL: for random streams, delivered twice over, shuffled across topics and cut
into batches, the incremental views equal a recomputation from the accepted events, and equal the views built
from the same events in another order (as a rebuild does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.reporting import handlers
from services.reporting.catalogue import CATALOGUE, COUNTERS
from services.reporting.domain import known_on, median, parse_period
from services.reporting.models import DAILY_FIGURES, REBUILT, column_of
from services.reporting.read import queries
from services.reporting.read.figures import figures
from shared.consumer import Deferred
from shared.database import create_engine, migrate, sessions
from shared.events import Event
from tests.infra import Infra
from tests.integration.conftest import migrations_of
from tests.streams import FACILITIES, Oracle, deliveries, streams, unique

UNITS = ["00070", "00073", "01", "75", "VN"]
PERIODS = ["2023", "2024-H1", "2023-07/2024-09", "2024-Q4"]
DAYS = [date(2023, 6, 30), date(2024, 3, 31), date(2024, 12, 31)]


async def _schema(infra: Infra, name: str) -> AsyncEngine:
    engine = create_engine(infra.database_url, name)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    await migrate(engine, name, migrations_of("reporting"))
    return engine


@pytest.fixture(scope="module")
async def two_schemas(infra: Infra) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    engines = (await _schema(infra, "prop_incremental"), await _schema(infra, "prop_scratch"))
    yield engines
    for engine, name in zip(engines, ("prop_incremental", "prop_scratch"), strict=True):
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        await engine.dispose()


async def _empty(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(REBUILT)}"))


async def deliver(db: async_sessionmaker[AsyncSession], batches: list[list[Event]]) -> None:
    """What the service's consumer does with each batch: its handler (which finds duplicates itself), the rest of
    the handler's work if it left some for later, commit."""
    for batch in batches:
        async with db.begin() as session:
            applied = await handlers.on_events(session, batch, schema="prop")  # a channel no reader hears
            if isinstance(applied, Deferred):
                await applied.rest()


#: A row of `daily_totals` that adds something: not all zeros, as a +1 and a -1 in different batches leave one.
NOT_ZEROS = " OR ".join(f"{column_of(f)} <> 0" for f in DAILY_FIGURES)


async def dump(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    """Every rebuilt table's rows, without the rows of zeros that a +1 and a -1 in different batches leave behind."""
    tables: dict[str, list[tuple[object, ...]]] = {}
    async with engine.connect() as conn:
        for table in REBUILT:
            if table == "inbox":
                query = "SELECT event_id FROM inbox ORDER BY 1"
            elif table == "daily_totals":
                query = f"SELECT * FROM daily_totals WHERE {NOT_ZEROS} ORDER BY 1, 2, 3"  # noqa: S608
            else:
                query = f"SELECT * FROM {table} ORDER BY 1, 2, 3"  # noqa: S608
            tables[table] = [tuple(r) for r in (await conn.execute(text(query))).all()]
    return tables


async def check_against_oracle(
    db: async_sessionmaker[AsyncSession], oracle: Oracle, as_of_dates: list[date | None]
) -> None:
    indicators = [CATALOGUE[i] for i in COUNTERS] + [CATALOGUE["persons_admitted"], CATALOGUE["first_time_entrants"]]
    async with db() as s:
        for text_period in PERIODS:
            period = parse_period(text_period)
            for as_of in as_of_dates:
                found = await figures(s, indicators, UNITS, period, as_of)
                for unit in UNITS:
                    args = (unit, period.first, period.end, as_of)
                    expected = {i: oracle.counter(i, *args) for i in COUNTERS}
                    expected |= {
                        "persons_admitted": oracle.persons(*args),
                        "first_time_entrants": oracle.first_time(*args),
                    }
                    assert found[unit] == expected, (unit, text_period, as_of)
                    stays = oracle.lengths_of_stay(*args)
                    rows = await queries.get_discharges(s, unit, period, as_of)
                    assert {(r.modality, r.outcome): (r.discharges, r.median_days) for r in rows} == {
                        key: (len(days), median(days)) for key, days in stays.items()
                    }
        for on in DAYS:
            for as_of in as_of_dates:
                for unit in UNITS:
                    census = {m: n for m, n in (await queries.get_census(s, unit, on, as_of)).items() if n}
                    assert census == oracle.census(unit, on, as_of), (unit, on, as_of)
                for facility in FACILITIES:
                    found_here = await queries.get_facility_census(s, facility, on, as_of)
                    assert found_here == oracle.facility_census(facility, on, as_of), (facility, on, as_of)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_incremental_views_equal_a_recomputation_and_a_rebuild_in_another_order(
    two_schemas: tuple[AsyncEngine, AsyncEngine], data: st.DataObject
) -> None:
    incremental, scratch = two_schemas
    await _empty(incremental)
    await _empty(scratch)
    events = data.draw(streams())
    await deliver(sessions(incremental), data.draw(deliveries(events)))

    # as_of on the very dates events were recorded, and the day before: where a late record changes the past
    recorded = sorted({known_on(e.time) - timedelta(days=d) for e in events for d in (0, 1)})
    as_of_dates: list[date | None] = [
        None,
        *data.draw(st.lists(st.sampled_from(recorded), min_size=min(4, len(recorded)), max_size=6, unique=True)),
    ]
    await check_against_oracle(sessions(incremental), Oracle(unique(events)), as_of_dates)

    await deliver(sessions(scratch), [sorted(events, key=lambda e: e.id)])  # once, in one batch, in id order
    assert await dump(incremental) == await dump(scratch)
