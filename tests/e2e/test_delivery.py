"""Delivery across the processes: every event delivered twice more changes nothing; a `completed` published before
its `admitted` is applied once the admission arrives; one whose admission never comes is dead-lettered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.facility.domain import facility_subject
from shared.events import serialize
from tests.builders import a_completion, a_relapse, a_subject, an_admission, an_event
from tests.e2e.conftest import STANDARD_FACILITY, Suite, eventually, read_all
from tests.e2e.flow import (
    HOAN_KIEM,
    admitted,
    case,
    counter,
    data_of,
    discharge,
    new_facility,
    register,
    resident,
)
from tests.e2e.test_case_flow import EVERY_TOPIC
from tests.e2e.test_skeleton import value

pytestmark = pytest.mark.e2e

CONSUMES = {
    "intake": {"admitted", "completed", "relapsed", "facility_registered"},
    "facility": {"admitted", "transferred", "completed"},
    "aftercare": {"admitted", "completed", "relapsed", "employed"},
    "reporting": {"admitted", "transferred", "completed", "relapsed", "employed"},
}
SCHEMAS = ("intake", "facility", "aftercare")


async def outboxes_drained(suite: Suite) -> bool:
    unpublished = "SELECT count(*) AS n FROM {}.outbox WHERE published_at IS NULL"
    counts = [await suite.fetch(unpublished.format(s)) for s in SCHEMAS]
    return all(c[0]["n"] == 0 for c in counts)


async def state(suite: Suite, subjects: list[str], episodes: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row the flow left in the services' own tables (the inboxes aside)."""
    queries = {
        "intake.episodes": "SELECT * FROM intake.episodes WHERE subject = ANY($1::text[]) ORDER BY episode_id",
        "facility.residents": "SELECT * FROM facility.residents WHERE subject = ANY($1::text[]) ORDER BY episode_id",
        "aftercare.episodes": "SELECT * FROM aftercare.episodes WHERE subject = ANY($1::text[]) ORDER BY episode_id",
        "aftercare.aftercare_cases": "SELECT * FROM aftercare.aftercare_cases WHERE subject = ANY($1::text[])",
    }
    by_episode = {
        "facility.stays": "SELECT facility_id, modality, started_on, ended_on FROM facility.stays "
        "WHERE episode_id = ANY($1::text[]) ORDER BY episode_id, started_on, facility_id",
        "aftercare.supports": "SELECT episode_id, support, employed_on FROM aftercare.supports "
        "WHERE episode_id = ANY($1::text[]) ORDER BY episode_id",
    }
    found = {name: await suite.fetch(sql, subjects) for name, sql in queries.items()}
    for name, sql in by_episode.items():
        found[name] = await suite.fetch(sql, episodes)
    for schema in SCHEMAS:
        parked = f"SELECT * FROM {schema}.parked_events WHERE subject = ANY($1::text[])"  # noqa: S608
        found[f"{schema}.parked_events"] = await suite.fetch(parked, subjects)
    return found


async def test_every_event_delivered_twice_more_changes_nothing(suite: Suite, producer: AIOKafkaProducer) -> None:
    cs_a, cs_b = await new_facility(suite, compulsory=5), await new_facility(suite, compulsory=5)
    async with (
        suite.client("intake") as intake,
        suite.client("facility") as facility,
        suite.client("aftercare") as aftercare,
        suite.client("reporting") as reporting,
    ):
        lan, mai = await register(intake), await register(intake)
        first = await admitted(intake, lan, "2015-01-10", cs_a)
        community = await admitted(
            intake, mai, "2015-02-01", None, modality="voluntary_community", service_point_id="sp"
        )
        await resident(suite, first)
        moved = await facility.post(
            f"/v1/episodes/{first}/transfer",
            json={"transferred_on": "2015-03-01", "to_facility_id": cs_b, "reason": "x"},
        )
        assert moved.status_code == 201, moved.text
        assert (await discharge(facility, first, "2015-06-01")).status_code == 201
        ended = await intake.post(
            f"/v1/episodes/{community}/completion",
            json={"completed_on": "2015-05-01", "outcome": "completed", "return_unit": HOAN_KIEM},
        )
        assert ended.status_code == 201, ended.text
        await case(suite, first)
        await case(suite, community)
        support = {"employed_on": "2015-07-01", "support": "job_placement"}
        assert (await aftercare.post(f"/v1/cases/{community}/employment", json=support)).status_code == 201
        assert (
            await aftercare.post(f"/v1/cases/{first}/relapse", json={"detected_on": "2015-09-01"})
        ).status_code == 201

        async def relapse_known_to_intake() -> Any:
            return (await intake.get(f"/v1/episodes/{first}")).json()["relapsed_on"]

        assert await eventually(relapse_known_to_intake, "2015-09-01") == "2015-09-01"
        second = await admitted(intake, lan, "2015-10-01", cs_a)
        await resident(suite, second)
        assert await eventually(lambda: outboxes_drained(suite), True)
        known = "SELECT count(*) AS n FROM aftercare.episodes WHERE episode_id = $1"
        assert await eventually(lambda: suite.fetch(known, second), [{"n": 1}]) == [{"n": 1}]
        assert await eventually(lambda: value(reporting, "admissions.total", "VN", "2015"), 3) == 3

        subjects, episodes = [lan, mai], [first, community, second]
        before = await state(suite, subjects, episodes)
        keys = {s.encode() for s in subjects} | {facility_subject(f).encode() for f in (cs_a, cs_b)}
        records = [r for r in await read_all(suite, *EVERY_TOPIC) if r.key in keys]
        ids_before = sorted(data_of(r)["id"] for r in records)
        clients = {"intake": intake, "facility": facility, "aftercare": aftercare, "reporting": reporting}
        duplicates = {
            s: await counter(c, "hoinhap_events_consumed_total", result="duplicate") for s, c in clients.items()
        }

        for _ in range(2):
            for r in records:
                await producer.send_and_wait(r.topic, r.value, key=r.key, headers=list(r.headers))

        for service, client in clients.items():
            expected = duplicates[service] + 2 * sum(
                1 for r in records if data_of(r)["type"].split(".")[2] in CONSUMES[service]
            )

            async def caught_up(client: Any = client, expected: float = expected) -> bool:
                return await counter(client, "hoinhap_events_consumed_total", result="duplicate") >= expected

            assert await eventually(caught_up, True, timeout=60), service
        assert await state(suite, subjects, episodes) == before
        assert await outboxes_drained(suite)
        assert sorted(data_of(r)["id"] for r in await read_all(suite, *EVERY_TOPIC) if r.key in keys) == sorted(
            ids_before * 3
        )
        assert await value(reporting, "admissions.total", "VN", "2015") == 3
    assert before["aftercare.aftercare_cases"] and before["facility.stays"] and before["aftercare.supports"]


async def parked_everywhere(suite: Suite, episode_id: str, schemas: tuple[str, ...]) -> bool:
    for schema in schemas:
        query = f"SELECT 1 FROM {schema}.parked_events WHERE awaiting = $1"  # noqa: S608
        rows = await suite.fetch(query, f"episode:{episode_id}")
        if not rows:
            return False
    return True


async def test_a_completion_published_before_its_admission_is_applied_once_the_admission_arrives(
    suite: Suite, producer: AIOKafkaProducer
) -> None:
    subject = a_subject()  # an agency publishing straight to Kafka, for a person intake never registered
    admission = an_admission(facility_id=STANDARD_FACILITY, admitted_on="2014-01-10", unit=HOAN_KIEM)
    episode_id = admission.episode_id
    completion = a_completion(episode_id=episode_id, completed_on="2014-06-01", return_unit=HOAN_KIEM)
    await producer.send_and_wait(
        suite.topic("rehab.completed"), serialize(an_event(completion, subject)), key=subject.encode()
    )
    assert await eventually(lambda: parked_everywhere(suite, episode_id, SCHEMAS), True)

    await producer.send_and_wait(
        suite.topic("rehab.admitted"), serialize(an_event(admission, subject)), key=subject.encode()
    )

    assert (await case(suite, episode_id))["opened_on"] == "2014-06-01"
    async with suite.client("facility") as facility, suite.client("intake") as intake:

        async def discharged() -> Any:
            return (await facility.get(f"/v1/episodes/{episode_id}")).json().get("discharged_on")

        assert await eventually(discharged, "2014-06-01") == "2014-06-01"

        async def ended() -> Any:
            return (await intake.get(f"/v1/episodes/{episode_id}")).json().get("ended_on")

        assert await eventually(ended, "2014-06-01") == "2014-06-01"
    for schema in SCHEMAS:
        assert await suite.fetch(f"SELECT * FROM {schema}.parked_events WHERE subject = $1", subject) == []  # noqa: S608

    async def opened() -> list[str]:
        records = await read_all(suite, "rehab.aftercare_opened")
        return [data_of(r)["data"]["episode_id"] for r in records if r.key == subject.encode()]

    assert await eventually(opened, [episode_id]) == [episode_id]


async def test_an_event_whose_episode_never_arrives_is_dead_lettered_as_unmatched(
    suite: Suite, producer: AIOKafkaProducer
) -> None:
    subject, episode_id = a_subject(), an_admission().episode_id
    key = subject.encode()
    completed = an_event(a_completion(episode_id=episode_id, completed_on="2013-06-01"), subject)
    relapsed = an_event(a_relapse(episode_id=episode_id, detected_on="2013-09-01"), subject)
    await producer.send_and_wait(suite.topic("rehab.completed"), serialize(completed), key=key)
    await producer.send_and_wait(suite.topic("rehab.relapsed"), serialize(relapsed), key=key)
    assert await eventually(lambda: parked_everywhere(suite, episode_id, SCHEMAS), True)

    expected = {
        ("intake", "completed"),
        ("intake", "relapsed"),
        ("facility", "completed"),
        ("aftercare", "completed"),
        ("aftercare", "relapsed"),
    }

    async def dead_lettered() -> set[tuple[str, str]]:
        found = set()
        for r in await read_all(suite, "rehab.deadletter"):
            headers = {k: v.decode() for k, v in r.headers}
            if r.key == key and headers.get("hoinhap-reason") == "unmatched":
                found.add((headers["hoinhap-service"], json.loads(r.value or b"{}")["type"].split(".")[2]))
        return found

    assert await eventually(dead_lettered, expected, timeout=120) == expected  # the suite parks for 15 s
    assert not await parked_everywhere(suite, episode_id, ("intake",))
    assert {json.loads(r.value or b"{}")["id"] for r in await read_all(suite, "rehab.deadletter") if r.key == key} == {
        completed.id,
        relapsed.id,
    }
