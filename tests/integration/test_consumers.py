"""Each service's consumer on the real database: what the contract's events do to its tables, in any order,
delivered any number of times."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.facility import db as facility_db
from services.facility import domain as facility_domain
from shared.events import EVENT_ADAPTER, AftercareOpenedEvent, Event, EventData
from tests.builders import (
    a_completion,
    a_facility,
    a_relapse,
    a_subject,
    a_transfer,
    an_admission,
    an_employment,
    an_event,
)
from tests.integration.conftest import Harness, HarnessOf

JAN, FEB, MAR, APR, MAY, JUN = (date(2024, m, 1) for m in (1, 2, 3, 4, 5, 6))


async def register(facility: Harness, facility_id: str, **capacity: int) -> None:
    """What `PUT /v1/facilities` does to the tables and the parked admissions."""
    async with facility.sessions.begin() as s:
        await facility_db.save_facility(s, facility_id, "Cơ sở", "00070", capacity or {"compulsory": 100})
        await facility.parking.release(s, [facility_domain.awaiting_registration(facility_id)])


async def census(facility: Harness, facility_id: str, on: date) -> dict[str, int]:
    async with facility.sessions() as s:
        return await facility_db.census(s, facility_id, on)


async def snapshot(h: Harness, *tables: str) -> dict[str, list[dict[str, Any]]]:
    return {t: await h.rows(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}  # noqa: S608


async def test_an_admission_into_a_facility_not_registered_yet_waits_for_its_registration(
    harness_of: HarnessOf,
) -> None:
    facility = await harness_of("facility")
    admitted = an_admission(facility_id="f-late", admitted_on=JAN)
    await facility.deliver(an_event(admitted))
    assert await facility.count("residents") == 0
    assert await facility.rows("SELECT awaiting FROM parked_events") == [{"awaiting": "facility:f-late"}]

    await register(facility, "f-late")
    assert await census(facility, "f-late", FEB) == {"compulsory": 1}
    assert await facility.count("parked_events") == 0


async def test_the_census_follows_residents_through_transfers_and_discharges_day_by_day(harness_of: HarnessOf) -> None:
    facility = await harness_of("facility")
    await register(facility, "a", compulsory=10, methadone=5)
    await register(facility, "b", compulsory=10)
    subject, admitted = a_subject(), an_admission(facility_id="a", admitted_on=JAN)
    other = an_admission(facility_id="a", modality="methadone", legal_basis=None, admitted_on=JAN)
    await facility.deliver(
        an_event(admitted, subject),
        an_event(other),
        an_event(
            a_transfer(episode_id=admitted.episode_id, transferred_on=MAR, from_facility_id="a", to_facility_id="b"),
            subject,
        ),
        an_event(a_completion(episode_id=admitted.episode_id, completed_on=MAY), subject),
    )
    assert await census(facility, "a", FEB) == {"compulsory": 1, "methadone": 1}
    assert await census(facility, "a", MAR) == {"methadone": 1}
    assert await census(facility, "b", MAR) == {"compulsory": 1}
    assert await census(facility, "b", APR) == {"compulsory": 1}
    assert await census(facility, "b", MAY) == {}
    assert await census(facility, "a", date(2023, 12, 31)) == {}
    [resident] = await facility.rows(
        "SELECT facility_id, discharged_on, outcome FROM residents WHERE episode_id = :e", e=admitted.episode_id
    )
    assert resident == {"facility_id": "b", "discharged_on": MAY, "outcome": "completed"}


async def test_moves_and_ends_published_out_of_order_wait_for_what_they_follow(harness_of: HarnessOf) -> None:
    facility = await harness_of("facility")
    for f in ("a", "b", "c"):
        await register(facility, f)
    subject, admitted = a_subject(), an_admission(facility_id="a", admitted_on=JAN)
    episode_id = admitted.episode_id
    second = an_event(
        a_transfer(episode_id=episode_id, transferred_on=APR, from_facility_id="b", to_facility_id="c"), subject
    )
    first = an_event(
        a_transfer(episode_id=episode_id, transferred_on=MAR, from_facility_id="a", to_facility_id="b"), subject
    )
    end = an_event(a_completion(episode_id=episode_id, completed_on=MAY), subject)

    await facility.deliver(end, second)
    await facility.deliver(an_event(admitted, subject))
    assert await facility.count("parked_events") == 1  # the move from b waits for the move to b
    await facility.deliver(first)

    assert await facility.count("parked_events") == 0
    stays = await facility.rows("SELECT facility_id, started_on, ended_on FROM stays ORDER BY started_on")
    assert [(s["facility_id"], s["started_on"], s["ended_on"]) for s in stays] == [
        ("a", JAN, MAR),
        ("b", MAR, APR),
        ("c", APR, MAY),
    ]


async def test_ends_of_treatment_in_the_community_are_not_the_facilitys_to_apply(harness_of: HarnessOf) -> None:
    facility = await harness_of("facility")
    admitted = an_admission(modality="voluntary_community", facility_id=None, legal_basis=None)
    await facility.deliver(an_event(admitted), an_event(a_completion(episode_id=admitted.episode_id)))
    assert (await facility.count("residents"), await facility.count("parked_events")) == (0, 0)


async def test_every_event_delivered_twice_more_changes_nothing(harness_of: HarnessOf) -> None:
    facility = await harness_of("facility")
    await register(facility, "a")
    await register(facility, "b")
    subject, admitted = a_subject(), an_admission(facility_id="a", admitted_on=JAN)
    events: list[Event] = [
        an_event(admitted, subject),
        an_event(
            a_transfer(episode_id=admitted.episode_id, transferred_on=MAR, from_facility_id="a", to_facility_id="b"),
            subject,
        ),
        an_event(a_completion(episode_id=admitted.episode_id, completed_on=MAY), subject),
    ]
    await facility.deliver(*events)
    before = await snapshot(facility, "residents", "stays", "parked_events", "outbox")
    await facility.deliver(*events, *events)
    await facility.deliver(*reversed(events))
    assert await snapshot(facility, "residents", "stays", "parked_events", "outbox") == before


async def test_intake_learns_of_admissions_agencies_published_and_of_what_followed_them(harness_of: HarnessOf) -> None:
    intake = await harness_of("intake")
    subject, admitted = a_subject(), an_admission()
    await intake.deliver(
        an_event(a_relapse(episode_id=admitted.episode_id, detected_on=MAY), subject),
        an_event(a_completion(episode_id=admitted.episode_id, completed_on=APR, outcome="terminated"), subject),
    )
    assert await intake.count("parked_events") == 2
    await intake.deliver(an_event(admitted, subject))
    [episode] = await intake.rows("SELECT subject, ended_on, outcome, relapsed_on, recorded_by FROM episodes")
    assert episode == {
        "subject": subject,
        "ended_on": APR,
        "outcome": "terminated",
        "relapsed_on": MAY,
        "recorded_by": "/vn/agency/test",
    }
    assert await intake.count("parked_events") == 0


async def test_intake_keeps_the_newest_announcement_of_a_facility_whatever_the_order(harness_of: HarnessOf) -> None:
    intake = await harness_of("intake")
    now = datetime.now(UTC)
    newer = a_facility(capacity={"compulsory": 5})
    older = a_facility(facility_id=newer.facility_id, capacity={"voluntary_facility": 5})
    await intake.deliver(an_event(newer, a_subject(), time=now), an_event(older, a_subject(), time=now - timedelta(1)))
    assert await intake.rows("SELECT modalities FROM facilities") == [{"modalities": ["compulsory"]}]


async def test_aftercare_opens_management_by_modality_and_outcome_and_announces_it_once(harness_of: HarnessOf) -> None:
    aftercare = await harness_of("aftercare")
    compulsory, stay = an_admission(), an_admission(modality="temporary_stay", legal_basis=None)
    subject = a_subject()
    ended = an_event(a_completion(episode_id=compulsory.episode_id, outcome="terminated", return_unit="00073"), subject)
    await aftercare.deliver(
        an_event(compulsory, subject), an_event(stay), ended, an_event(a_completion(episode_id=stay.episode_id))
    )
    await aftercare.deliver(ended)

    assert await aftercare.rows("SELECT episode_id, subject, unit FROM aftercare_cases") == [
        {"episode_id": compulsory.episode_id, "subject": subject, "unit": "00073"}
    ]
    [announced] = [
        EVENT_ADAPTER.validate_json(r["payload"]) for r in await aftercare.rows("SELECT payload FROM outbox")
    ]
    assert isinstance(announced, AftercareOpenedEvent)
    assert (announced.subject, announced.data.episode_id, announced.data.unit) == (
        subject,
        compulsory.episode_id,
        "00073",
    )


async def test_support_an_agency_published_before_the_case_opened_waits_for_it(harness_of: HarnessOf) -> None:
    aftercare = await harness_of("aftercare")
    subject, admitted = a_subject(), an_admission()
    await aftercare.deliver(
        an_event(an_employment(episode_id=admitted.episode_id), subject), an_event(admitted, subject)
    )
    assert await aftercare.count("supports") == 0
    await aftercare.deliver(an_event(a_completion(episode_id=admitted.episode_id), subject))
    assert await aftercare.rows("SELECT episode_id, support FROM supports") == [
        {"episode_id": admitted.episode_id, "support": "loan"}
    ]


async def test_each_service_applies_a_batch_as_it_applies_the_same_events_one_at_a_time(harness_of: HarnessOf) -> None:
    # The consumers apply a batch a statement per kind of event, not event by event: whatever the batch holds (ends
    # and relapses before their admissions, two ends of one episode, repeats), the tables must come out as if the
    # events had arrived one by one, in the batch's order.
    rng = random.Random(6)
    events: list[Event] = []
    for i in range(40):
        subject = a_subject()
        modality = rng.choice(["compulsory", "voluntary_facility", "methadone", "voluntary_community"])
        place = {"facility_id": None} if modality == "voluntary_community" else {"facility_id": rng.choice("ab")}
        basis = {"legal_basis": "Quyết định 1/QĐ-TA" if modality == "compulsory" else None}
        admitted = an_admission(modality=modality, admitted_on=JAN, **basis, **place)
        episode = admitted.episode_id
        story: list[EventData] = []
        if i % 7 == 0:  # a rival admission of the same episode
            story.append(an_admission(**admitted.model_dump() | {"admitted_on": FEB}))
        if place["facility_id"] and rng.random() < 0.3:
            other = "b" if place["facility_id"] == "a" else "a"
            story.append(a_transfer(episode_id=episode, from_facility_id=place["facility_id"], to_facility_id=other))
        outcomes = ["completed", "terminated", "absconded"]
        story += [
            a_completion(episode_id=episode, completed_on=day, outcome=rng.choice(outcomes))
            for day in rng.sample([APR, MAY], rng.randint(0, 2))
        ]
        story += [a_relapse(episode_id=episode, detected_on=d) for d in rng.sample([MAY, JUN], rng.randint(0, 2))]
        story += [
            an_employment(episode_id=episode, support=s)
            for s in rng.sample(["loan", "job_placement"], rng.randint(0, 2))
        ]
        told = [an_event(admitted, subject), *(an_event(data, subject) for data in story)]
        rng.shuffle(told)  # some follow-ups before their admission
        events += told + rng.sample(told, 1)  # and a repeat
    rng.shuffle(events)
    seen = {
        "intake": "SELECT episode_id, ended_on, outcome, relapsed_on FROM episodes",
        "facility": "SELECT episode_id, facility_id, admitted_on, discharged_on, outcome FROM residents",
        "facility stays": "SELECT episode_id, facility_id, modality, started_on, ended_on FROM stays",
        "facility community": "SELECT episode_id FROM community_episodes",
        "aftercare": "SELECT episode_id, ended_on, outcome FROM episodes",
        "aftercare cases": "SELECT episode_id, unit, opened_on, closed_on, closed_reason FROM aftercare_cases",
        "aftercare supports": "SELECT episode_id, support, employed_on FROM supports",
        "aftercare outbox": "SELECT event_type, subject FROM outbox",
    }

    async def tables(h: Harness, service: str) -> dict[str, list[tuple[Any, ...]]]:
        queries = {k: q for k, q in seen.items() if k.split()[0] == service} | {"parked": _PARKED}
        return {k: sorted(tuple(r.values()) for r in await h.rows(q)) for k, q in queries.items()}

    for service in ("intake", "facility", "aftercare"):
        one_by_one, batched = await harness_of(service), await harness_of(service)
        for h in (one_by_one, batched) if service == "facility" else ():
            for facility_id in ("a", "b"):
                await register(h, facility_id, compulsory=100, voluntary_facility=100, methadone=100)
        for event in events:
            await one_by_one.deliver(event)
        await batched.deliver(*events)
        expected = await tables(one_by_one, service)
        assert sum(map(len, expected.values())) > len(expected)  # the events did something
        assert await tables(batched, service) == expected, service


_PARKED = "SELECT event_id, awaiting FROM parked_events"
