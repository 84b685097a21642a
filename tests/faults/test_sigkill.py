"""Killing services with SIGKILL in the middle of the case flow, and starting them again, loses nothing and
duplicates nothing: what was accepted is published, what was published is applied, each exactly once."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from tests.e2e.conftest import Suite, eventually, read_all
from tests.e2e.flow import admitted, data_of, discharge, new_facility, register
from tests.e2e.test_case_flow import EVERY_TOPIC
from tests.e2e.test_skeleton import value

pytestmark = pytest.mark.e2e

N = 12


def kill(suite: Suite, *services: str) -> None:
    for name in services:
        process = suite.processes[name]
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
    async with suite.client("reporting") as reporting:
        assert await eventually(lambda: value(reporting, "admissions.total", "VN", "2012"), N) == N
