"""Killing services with SIGKILL in the middle of the case flow, and starting them again, loses nothing and
duplicates nothing: what was accepted is published, what was published is applied, each exactly once."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from pathlib import Path

import pytest

from hoinhap import local
from tests.e2e.conftest import Suite, eventually, read_all
from tests.e2e.flow import admitted, data_of, discharge, new_facility, register
from tests.e2e.test_case_flow import EVERY_TOPIC
from tests.e2e.test_skeleton import value
from tests.faults.conftest import SEED
from tests.faults.workload import Workload, check_drained, check_views
from tests.reliability import compare, tally

pytestmark = pytest.mark.e2e

N = 12


def kill(suite: Suite, *services: str) -> None:
    for name in services:
        sigkill(suite.processes[name])
        tally("faults.sigkill")


def sigkill(process: local.ServiceProcess) -> None:
    process.signal(signal.SIGKILL)
    assert process.process is not None
    process.process.wait()


def restart(suite: Suite, *services: str) -> None:
    for name in services:
        suite.processes[name].start()
    for name in services:
        suite.processes[name].wait_ready(timeout=120)


async def count(suite: Suite, sql: str, *args: object) -> int:
    return int((await suite.fetch(sql, *args))[0]["n"])


async def test_killing_services_mid_flow_loses_nothing_and_duplicates_nothing(restartable: Suite) -> None:
    suite = restartable
    cs = await new_facility(suite, compulsory=N)
    async with suite.client("intake") as intake:
        people = [await register(intake) for _ in range(N)]
        # The facility dies while it consumes the first admissions; intake right after accepting the last ones,
        # with its outbox perhaps not yet published.
        episodes = [await admitted(intake, p, f"2012-01-{i + 1:02d}", cs) for i, p in enumerate(people[: N // 2])]
        kill(suite, "facility")
        episodes += [await admitted(intake, p, f"2012-02-{i + 1:02d}", cs) for i, p in enumerate(people[N // 2 :])]
        kill(suite, "intake")
    restart(suite, "intake", "facility")
    residents = "SELECT count(*) AS n FROM facility.residents WHERE episode_id = ANY($1::text[])"
    assert await eventually(lambda: count(suite, residents, episodes), N, timeout=120) == N

    async with suite.client("facility") as facility:
        for i, episode in enumerate(episodes):
            if i == N // 2:
                kill(suite, "aftercare")  # while it consumes the first discharges
            assert (await discharge(facility, episode, "2012-06-01")).status_code == 201
        kill(suite, "facility")
    restart(suite, "aftercare", "facility")
    cases = "SELECT count(*) AS n FROM aftercare.aftercare_cases WHERE episode_id = ANY($1::text[])"
    assert await eventually(lambda: count(suite, cases, episodes), N, timeout=120) == N

    relapsed = episodes[: N // 2]
    async with suite.client("aftercare") as aftercare:
        for i, episode in enumerate(relapsed):
            if i == N // 4:
                kill(suite, "intake")  # while it consumes the relapses
            response = await aftercare.post(f"/v1/cases/{episode}/relapse", json={"detected_on": "2012-09-01"})
            assert response.status_code == 201, response.text
        kill(suite, "aftercare")
    restart(suite, "intake", "aftercare")
    known = "SELECT count(*) AS n FROM intake.episodes WHERE episode_id = ANY($1::text[]) AND relapsed_on IS NOT NULL"
    assert await eventually(lambda: count(suite, known, relapsed), len(relapsed), timeout=120) == len(relapsed)

    # Nothing lost, nothing doubled: every outbox drained, nothing parked, each fact once in every table,
    # each event once on its topic (a record may repeat, at least once; its id does not).
    for schema in ("intake", "facility", "aftercare"):
        outbox = f"SELECT count(*) AS n FROM {schema}.outbox WHERE published_at IS NULL"  # noqa: S608
        assert await eventually(lambda sql=outbox: count(suite, sql), 0) == 0  # type: ignore[misc]
        assert await count(suite, f"SELECT count(*) AS n FROM {schema}.parked_events") == 0  # noqa: S608
    mine = "episode_id = ANY($1::text[])"
    stays = f"SELECT count(*) AS n FROM facility.stays WHERE {mine}"  # noqa: S608
    assert await count(suite, stays, episodes) == N
    closed = f"SELECT count(*) AS n FROM aftercare.aftercare_cases WHERE {mine} AND closed_reason = 'relapsed'"  # noqa: S608
    assert await count(suite, closed, episodes) == len(relapsed)
    ended = f"SELECT count(*) AS n FROM intake.episodes WHERE {mine} AND ended_on = '2012-06-01'"  # noqa: S608
    assert await count(suite, ended, episodes) == N

    keys = {p.encode() for p in people}
    distinct = {
        (data_of(r)["type"].split(".")[2], data_of(r)["id"])
        for r in await read_all(suite, *EVERY_TOPIC)
        if r.key in keys
    }
    assert Counter(kind for kind, _ in distinct) == {
        "admitted": N,
        "completed": N,
        "aftercare_opened": N,
        "relapsed": len(relapsed),
    }
    assert [r for r in await read_all(suite, "rehab.deadletter") if r.key in keys] == []
    tally("events_sent", 2 * N + len(relapsed))
    async with suite.client("reporting") as reporting:
        admissions = await eventually(lambda: value(reporting, "admissions.total", "VN", "2012"), N)
    compare({"admissions.total": N}, {"admissions.total": admissions})
    assert admissions == N


async def strike(suite: Suite, rng: random.Random, times: int) -> Counter[str]:
    """Every service, concurrently, `times` times: killed at a random moment (its first start or a restart still
    under way included), then started again at once. A restart takes about 12 s here (12.2 to 12.3 s to ready in
    the test above, two services at once; a first start about 4 s), mostly waiting for the consumer group to give
    up on the dead member (its session is 6 s), so the kills of one service are about 20-30 s apart."""
    killed: Counter[str] = Counter()

    async def timeline(name: str, delays: list[float]) -> None:
        for delay in delays:
            await asyncio.sleep(delay)
            await asyncio.to_thread(kill, suite, name)
            killed[name] += 1
            suite.processes[name].start()

    await asyncio.gather(
        *(
            timeline(name, [rng.uniform(0, 10)] + [rng.uniform(20, 30) for _ in range(times - 1)])
            for name in local.SERVICES
        )
    )
    for process in suite.processes.values():
        await asyncio.to_thread(process.wait_ready, 120)
    return killed


async def test_every_service_killed_at_random_moments_while_events_flow(restartable: Suite) -> None:
    suite = restartable
    facility = await new_facility(suite, compulsory=100_000, voluntary_facility=100_000)
    workload = Workload(suite, random.Random(SEED), 2013, facility)
    stop = asyncio.Event()
    flow = asyncio.create_task(workload.run(stop, at_least=60))
    try:
        killed = await strike(suite, random.Random(SEED + 1), times=3)
    finally:
        stop.set()
        await flow
    assert killed == {name: 3 for name in local.SERVICES}

    # Every indicator the flow touched equals the oracle, the outboxes drained, nothing waits.
    await check_views(workload)
    await check_drained(suite)


async def rebalancing(log: Path, since: int, group: str) -> bool:
    """Whether the service logging to `log` was told, after byte `since`, that its consumer group rebalances."""
    with log.open("rb") as f:
        f.seek(since)
        return f"group {group} because it is rebalancing".encode() in f.read()


async def test_a_reporting_replica_killed_while_its_group_rebalances(restartable: Suite) -> None:
    suite = restartable
    rng = random.Random(SEED + 2)
    facility = await new_facility(suite, compulsory=100_000, voluntary_facility=100_000)
    workload = Workload(suite, random.Random(SEED + 3), 2014, facility)
    stop = asyncio.Event()
    flow = asyncio.create_task(workload.run(stop, at_least=40))
    original = suite.processes["reporting"]
    replica = local.ServiceProcess(
        "reporting", local.free_port(), original.env, original.log.with_name("reporting-replica.log")
    )
    try:
        await asyncio.sleep(rng.uniform(1, 3))
        # The second replica joins the group; as soon as the first is told that the group rebalances, one dies.
        since = original.log.stat().st_size
        replica.start()
        group = suite.topic("hoinhap-reporting")
        assert await eventually(lambda: rebalancing(original.log, since, group), True, timeout=120)
        victim, survivor = rng.sample([original, replica], k=2)
        await asyncio.to_thread(sigkill, victim)
        tally("faults.rebalance_kill")
        await asyncio.sleep(rng.uniform(2, 5))
        stop.set()
        await flow
        await asyncio.to_thread(survivor.wait_ready, 120)
        suite.processes["reporting"] = survivor  # the survivor alone catches up
        await check_views(workload)
        await check_drained(suite)
    finally:
        stop.set()
        replica.stop()
        suite.processes["reporting"] = original
        if original.process is not None and original.process.poll() is not None:
            await asyncio.to_thread(restart, suite, "reporting")
