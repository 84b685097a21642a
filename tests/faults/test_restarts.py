"""PostgreSQL and the broker restarted under the services while agencies write: the services carry on by
themselves, refuse writes with 503 and Retry-After while the database is away, give a broker that came back empty
what it lost, and the views end equal to the oracle, nothing lost and nothing counted twice."""

from __future__ import annotations

import asyncio
import random

import pytest

from hoinhap import local
from tests.e2e.conftest import Suite, eventually
from tests.e2e.flow import new_facility
from tests.faults.conftest import SEED, OwnInfra
from tests.faults.workload import Workload, check_drained, check_views
from tests.reliability import tally

pytestmark = pytest.mark.e2e


def all_alive(suite: Suite) -> bool:
    return all(p.process is not None and p.process.poll() is None for p in suite.processes.values())


async def test_postgres_restarted_while_services_write(restartable: Suite, own_infra: OwnInfra) -> None:
    suite = restartable
    rng = random.Random(SEED + 4)
    facility = await new_facility(suite, compulsory=100_000, voluntary_facility=100_000)
    workload = Workload(suite, random.Random(SEED + 5), 2015, facility)
    stop = asyncio.Event()
    flow = asyncio.create_task(workload.run(stop, at_least=40))
    try:
        for _ in range(2):
            await asyncio.sleep(rng.uniform(1, 4))
            await asyncio.to_thread(own_infra.stop_postgres)
            tally("faults.postgres_restart")
            await asyncio.sleep(rng.uniform(3, 6))  # agencies keep writing: they are told to come back later
            await asyncio.to_thread(own_infra.start_postgres)
    finally:
        stop.set()
        await flow

    assert workload.answers[503] > 0, workload.answers
    assert workload.retry_after_missing == 0
    assert not [code for code in workload.answers if code >= 500 and code != 503], workload.answers
    assert all_alive(suite)  # nobody restarted them: they reconnected by themselves
    await check_views(workload)
    await check_drained(suite)


async def markers(own_infra: OwnInfra, suite: Suite) -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=own_infra.infra.bootstrap_servers)
    await admin.start()
    try:
        return {t for t in await admin.list_topics() if t.startswith(suite.topic("hoinhap.marker."))}
    finally:
        await admin.close()


async def test_broker_restarted_empty_while_services_write(restartable: Suite, own_infra: OwnInfra) -> None:
    suite = restartable
    rng = random.Random(SEED + 6)
    facility = await new_facility(suite, compulsory=100_000, voluntary_facility=100_000)
    workload = Workload(suite, random.Random(SEED + 7), 2016, facility)
    stop = asyncio.Event()
    flow = asyncio.create_task(workload.run(stop, at_least=40))
    try:
        await asyncio.sleep(rng.uniform(2, 5))
        # Tansu keeps everything in memory: it comes back without topics, records or committed offsets.
        await asyncio.to_thread(own_infra.restart_broker)
        tally("faults.broker_restart")
        await asyncio.sleep(rng.uniform(3, 6))
    finally:
        stop.set()
        await flow

    # Each service noticed that its marker was gone, recreated the topics and replayed its retained outbox; the
    # consumers, their offsets lost, read the topics again from the start and their inboxes skip what they had.
    expected = {suite.topic(f"hoinhap.marker.{name}") for name in local.SERVICES}
    assert await eventually(lambda: markers(own_infra, suite), expected, timeout=60) == expected
    assert all_alive(suite)
    await check_views(workload, timeout=300)
    await check_drained(suite)
