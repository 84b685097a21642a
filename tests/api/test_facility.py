"""Facility's routes, in process: the registry, the census, a resident's stays, transfers and discharges; what each
refuses and with which answer, and what an accepted write stores, stages in the outbox and audits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from shared.events import CompletedEvent, FacilityRegisteredEvent, TransferredEvent
from tests.api.conftest import Api
from tests.builders import HANOI_WARD, an_admission, an_event

DANANG_WARD = "20195"  # Phường Hải Vân, Đà Nẵng (48)
AN_END = {"completed_on": "2024-09-01", "outcome": "completed", "return_unit": HANOI_WARD}


def an_entry(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Cơ sở cai nghiện ma túy số 5 Hà Nội",
        "unit": HANOI_WARD,
        "capacity": {"compulsory": 300, "voluntary_facility": 100},
    } | overrides


def a_new_facility(**overrides: Any) -> dict[str, Any]:
    return {"facility_id": f"f-{uuid.uuid4().hex[:12]}", **an_entry()} | overrides


def a_move(to_facility_id: str, **overrides: Any) -> dict[str, Any]:
    return {"transferred_on": "2024-05-01", "to_facility_id": to_facility_id, "reason": "capacity"} | overrides


async def a_registered_facility(facility: Api, **overrides: Any) -> str:
    body = a_new_facility(**overrides)
    registered = await facility.client.post("/v1/facilities", json=body, headers=facility.as_operator())
    assert registered.status_code == 201, registered.text
    facility_id: str = body["facility_id"]
    return facility_id


async def a_resident(facility: Api, facility_id: str, **overrides: Any) -> str:
    """The episode of someone admitted (by intake, consumed here) into a facility."""
    admitted = an_admission(facility_id=facility_id, **overrides)
    await facility.consume(an_event(admitted))
    return admitted.episode_id


def fields(answer: httpx.Response) -> list[list[str]]:
    return [e["loc"] for e in answer.json()["detail"]]


async def registrations(facility: Api, facility_id: str) -> list[FacilityRegisteredEvent]:
    events = await facility.published("vn.rehab.facility_registered.v1")
    return [e for e in events if isinstance(e, FacilityRegisteredEvent) and e.data.facility_id == facility_id]


async def audited(facility: Api, action: str, target: str) -> list[dict[str, Any]]:
    sql = "SELECT agency, action FROM audit_log WHERE action = :a AND target = :t"
    return await facility.rows(sql, a=action, t=target)


async def test_every_route_asks_for_a_valid_token(facility: Api) -> None:
    for method, path in [
        ("POST", "/v1/facilities"),
        ("PUT", "/v1/facilities/f-1"),
        ("GET", "/v1/facilities"),
        ("GET", "/v1/facilities/f-1"),
        ("GET", "/v1/census"),
        ("GET", "/v1/episodes/ep-1"),
        ("POST", "/v1/episodes/ep-1/transfer"),
        ("POST", "/v1/episodes/ep-1/discharge"),
    ]:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            answer = await facility.client.request(method, path, json={}, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_query_parameter_is_refused(facility: Api) -> None:
    facility_id = await a_registered_facility(facility)
    census = {"facility_id": facility_id, "on": "2024-05-01"}

    for path, params in [
        ("/v1/facilities", {"unti": "01"}),
        (f"/v1/facilities/{facility_id}", {"unti": "01"}),
        ("/v1/census", census | {"day": "2024-05-01"}),
    ]:
        answer = await facility.client.get(path, params=params, headers=facility.as_operator())
        assert answer.status_code == 422, (path, answer.text)
        assert fields(answer) == [["query"]]


async def test_a_facility_is_registered_once_announced_and_audited(facility: Api) -> None:
    body = a_new_facility()
    hanoi = await facility.token("01", agency="hanoi-dolisa")

    first = await facility.client.post("/v1/facilities", json=body, headers=hanoi)
    again = await facility.client.post("/v1/facilities", json=body, headers=hanoi)
    read = await facility.client.get(f"/v1/facilities/{body['facility_id']}", headers=hanoi)

    assert (first.status_code, again.status_code, read.status_code) == (201, 409, 200)
    assert again.json() == {"detail": "facility_id is registered already; PUT changes it"}
    assert read.json() == first.json() and {k: first.json()[k] for k in body} == body
    [event] = await registrations(facility, body["facility_id"])
    assert (event.data.name, event.data.unit, event.data.capacity) == (body["name"], HANOI_WARD, body["capacity"])
    assert event.source == "/vn/agency/hanoi-dolisa"
    assert await audited(facility, "register_facility", body["facility_id"]) == [
        {"agency": "hanoi-dolisa", "action": "register_facility"}
    ]


async def test_a_facility_outside_the_callers_jurisdiction_is_refused(facility: Api) -> None:
    body = a_new_facility()
    danang = await facility.token("48", agency="danang-dolisa")

    answer = await facility.client.post("/v1/facilities", json=body, headers=danang)

    assert answer.status_code == 403
    assert answer.json() == {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-dolisa"}
    missing = await facility.client.get(f"/v1/facilities/{body['facility_id']}", headers=facility.as_operator())
    assert missing.status_code == 404


async def test_a_malformed_facility_is_refused_naming_the_field(facility: Api) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"capacity": {"compulsory": -1}}, ["body", "capacity", "compulsory"]),
        ({"capacity": {"compulsory": 100_001}}, ["body", "capacity", "compulsory"]),
        ({"capacity": {}}, ["body", "capacity"]),
        ({"capacity": {"voluntary_community": 5}}, ["body", "capacity", "voluntary_community", "[key]"]),
        ({"unit": "01"}, ["body", "unit"]),
        ({"unit": "99999"}, ["body", "unit"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "Cơ sở\x00số 5"}, ["body", "name"]),
        ({"facility_id": "-bad-"}, ["body", "facility_id"]),
    ]
    for overrides, field in cases:
        answer = await facility.client.post(
            "/v1/facilities", json=a_new_facility(**overrides), headers=facility.as_operator()
        )
        assert answer.status_code == 422, (overrides, answer.text)
        assert fields(answer) == [field], (overrides, answer.text)


async def test_a_put_registers_a_facility_then_announces_only_its_changes(facility: Api) -> None:
    facility_id = f"f-{uuid.uuid4().hex[:12]}"
    path = f"/v1/facilities/{facility_id}"
    hanoi = await facility.token("01", agency="hanoi-dolisa")
    larger = an_entry(capacity={"compulsory": 400, "voluntary_facility": 100})

    created = await facility.client.put(path, json=an_entry(), headers=hanoi)
    unchanged = await facility.client.put(path, json=an_entry(), headers=hanoi)
    after_unchanged = await registrations(facility, facility_id)
    changed = await facility.client.put(path, json=larger, headers=hanoi)

    assert (created.status_code, unchanged.status_code, changed.status_code) == (201, 200, 200)
    assert unchanged.json() == created.json()
    assert changed.json()["capacity"] == larger["capacity"]
    assert [e.data.capacity for e in after_unchanged] == [an_entry()["capacity"]]
    assert [e.data.capacity for e in await registrations(facility, facility_id)] == [
        an_entry()["capacity"],
        larger["capacity"],
    ]
    assert len(await audited(facility, "register_facility", facility_id)) == 1
    assert await audited(facility, "change_facility", facility_id) == [
        {"agency": "hanoi-dolisa", "action": "change_facility"}
    ]


async def test_a_put_cannot_move_a_facility_out_of_the_callers_jurisdiction(facility: Api) -> None:
    facility_id = await a_registered_facility(facility)
    path = f"/v1/facilities/{facility_id}"
    hanoi = await facility.token("01", agency="hanoi-dolisa")
    danang = await facility.token("48", agency="danang-dolisa")

    moved_away = await facility.client.put(path, json=an_entry(unit=DANANG_WARD), headers=hanoi)
    taken_over = await facility.client.put(path, json=an_entry(unit=DANANG_WARD), headers=danang)

    assert (moved_away.status_code, taken_over.status_code) == (403, 403)
    assert moved_away.json() == {"detail": f"unit {DANANG_WARD} is outside the jurisdiction of hanoi-dolisa"}
    assert taken_over.json() == {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-dolisa"}
    assert (await facility.client.get(path, headers=hanoi)).json()["unit"] == HANOI_WARD
    assert len(await registrations(facility, facility_id)) == 1


async def test_the_registry_is_read_by_any_agency(facility: Api) -> None:
    facility_id = await a_registered_facility(facility)
    danang = await facility.token("48", agency="danang-dolisa")

    listed = await facility.client.get("/v1/facilities", headers=danang)
    one = await facility.client.get(f"/v1/facilities/{facility_id}", headers=danang)
    missing = await facility.client.get("/v1/facilities/f-none", headers=danang)

    assert (listed.status_code, one.status_code, missing.status_code) == (200, 200, 404)
    assert one.json() in listed.json()
    assert missing.json() == {"detail": "no facility has that facility_id"}


async def test_the_census_counts_residents_by_modality_on_a_day(facility: Api) -> None:
    facility_id = await a_registered_facility(facility)
    await a_resident(facility, facility_id)
    await a_resident(facility, facility_id)
    await a_resident(facility, facility_id, modality="voluntary_facility", admitted_on="2024-04-01")

    async def census(on: str) -> dict[str, Any]:
        answer = await facility.client.get(
            "/v1/census", params={"facility_id": facility_id, "on": on}, headers=facility.as_operator()
        )
        assert answer.status_code == 200, answer.text
        counted: dict[str, Any] = answer.json()
        return counted

    assert (await census("2024-02-29"))["residents"] == {}
    assert (await census("2024-03-01"))["residents"] == {"compulsory": 2}
    assert await census("2024-04-01") == {
        "facility_id": facility_id,
        "on": "2024-04-01",
        "residents": {"compulsory": 2, "voluntary_facility": 1},
        "capacity": an_entry()["capacity"],
    }


async def test_the_census_is_read_within_the_facilitys_jurisdiction(facility: Api) -> None:
    facility_id = await a_registered_facility(facility)
    on = {"on": "2024-05-01"}

    own = await facility.client.get(
        "/v1/census", params={"facility_id": facility_id} | on, headers=await facility.token(HANOI_WARD)
    )
    other = await facility.client.get(
        "/v1/census", params={"facility_id": facility_id} | on, headers=await facility.token("48", agency="danang")
    )
    unknown = await facility.client.get(
        "/v1/census", params={"facility_id": "f-none"} | on, headers=facility.as_operator()
    )
    undated = await facility.client.get(
        "/v1/census", params={"facility_id": facility_id, "on": "0"}, headers=facility.as_operator()
    )

    assert (own.status_code, other.status_code, unknown.status_code) == (200, 403, 404)
    assert other.json() == {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang"}
    assert unknown.json() == {"detail": "no facility has that facility_id"}
    assert (undated.status_code, fields(undated)) == (422, [["query", "on"]])


async def test_a_resident_is_read_by_the_agencies_of_their_ward_or_their_facility(facility: Api) -> None:
    facility_id = await a_registered_facility(facility)
    episode_id = await a_resident(facility, facility_id, unit=DANANG_WARD)
    path = f"/v1/episodes/{episode_id}"

    by_facility = await facility.client.get(path, headers=await facility.token("01", agency="hanoi"))
    by_ward = await facility.client.get(path, headers=await facility.token(DANANG_WARD, agency="hai-van"))
    other = await facility.client.get(path, headers=await facility.token("79", agency="hcmc"))
    missing = await facility.client.get("/v1/episodes/ep-none", headers=facility.as_operator())

    assert (by_facility.status_code, by_ward.status_code, other.status_code) == (200, 200, 403)
    assert by_ward.json() == by_facility.json()
    assert by_ward.json()["stays"] == [
        {"facility_id": facility_id, "modality": "compulsory", "started_on": "2024-03-01", "ended_on": None}
    ]
    assert missing.status_code == 404
    assert missing.json() == {"detail": "the episode has no resident here (yet)"}


async def test_a_transfer_moves_the_resident_once_published_and_audited(facility: Api) -> None:
    here, there = await a_registered_facility(facility), await a_registered_facility(facility)
    episode_id = await a_resident(facility, here)
    path = f"/v1/episodes/{episode_id}/transfer"
    hanoi = await facility.token("01", agency="hanoi-dolisa")

    first = await facility.client.post(path, json=a_move(there), headers=hanoi)
    again = await facility.client.post(path, json=a_move(there), headers=hanoi)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["facility_id"] == there
    assert [(s["facility_id"], s["started_on"], s["ended_on"]) for s in first.json()["stays"]] == [
        (here, "2024-03-01", "2024-05-01"),
        (there, "2024-05-01", None),
    ]
    [event] = [
        e
        for e in await facility.published("vn.rehab.transferred.v1")
        if isinstance(e, TransferredEvent) and e.data.episode_id == episode_id
    ]
    assert (event.data.from_facility_id, event.data.to_facility_id, str(event.data.transferred_on)) == (
        here,
        there,
        "2024-05-01",
    )
    assert event.data.reason == "capacity" and event.source == "/vn/agency/hanoi-dolisa"
    assert await audited(facility, "transfer", episode_id) == [{"agency": "hanoi-dolisa", "action": "transfer"}]


async def test_a_transfer_needs_a_registered_facility_offering_the_modality_with_a_place(facility: Api) -> None:
    here = await a_registered_facility(facility)
    no_compulsory = await a_registered_facility(facility, capacity={"voluntary_facility": 10})
    full = await a_registered_facility(facility, capacity={"compulsory": 1})
    await a_resident(facility, full)
    path = f"/v1/episodes/{await a_resident(facility, here)}/transfer"

    unknown = await facility.client.post(path, json=a_move("f-none"), headers=facility.as_operator())
    not_offered = await facility.client.post(path, json=a_move(no_compulsory), headers=facility.as_operator())
    no_place = await facility.client.post(path, json=a_move(full), headers=facility.as_operator())
    same = await facility.client.post(path, json=a_move(here), headers=facility.as_operator())

    assert (unknown.status_code, not_offered.status_code, no_place.status_code) == (409, 409, 409)
    assert unknown.json() == {"detail": "to_facility_id is not a registered facility"}
    assert not_offered.json() == {"detail": f"facility {no_compulsory} does not offer compulsory"}
    assert no_place.json() == {
        "detail": f"facility {full} has no compulsory place free on 2024-05-01: 1 residents for 1 places"
    }
    assert (same.status_code, fields(same)) == (422, [["body"]])


async def test_a_move_dated_before_the_stay_began_is_refused(facility: Api) -> None:
    here, there = await a_registered_facility(facility), await a_registered_facility(facility)
    episode_id = await a_resident(facility, here)

    transfer = await facility.client.post(
        f"/v1/episodes/{episode_id}/transfer",
        json=a_move(there, transferred_on="2024-02-01"),
        headers=facility.as_operator(),
    )
    discharge = await facility.client.post(
        f"/v1/episodes/{episode_id}/discharge",
        json=AN_END | {"completed_on": "2024-02-01"},
        headers=facility.as_operator(),
    )

    assert (transfer.status_code, discharge.status_code) == (409, 409)
    assert transfer.json() == {"detail": "transferred_on is before the current stay began on 2024-03-01"}
    assert discharge.json() == {"detail": "completed_on is before the current stay began on 2024-03-01"}


async def test_a_discharge_ends_the_stay_once_published_and_audited(facility: Api) -> None:
    here, there = await a_registered_facility(facility), await a_registered_facility(facility)
    episode_id = await a_resident(facility, here)
    path = f"/v1/episodes/{episode_id}/discharge"
    hanoi = await facility.token("01", agency="hanoi-dolisa")
    trade = AN_END | {"vocational_training": "may mặc"}

    first = await facility.client.post(path, json=trade, headers=hanoi)
    again = await facility.client.post(path, json=trade, headers=hanoi)
    other_end = await facility.client.post(path, json=trade | {"completed_on": "2024-10-01"}, headers=hanoi)
    moved_after = await facility.client.post(f"/v1/episodes/{episode_id}/transfer", json=a_move(there), headers=hanoi)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (first.json()["discharged_on"], first.json()["outcome"]) == ("2024-09-01", "completed")
    assert first.json()["stays"][0]["ended_on"] == "2024-09-01"
    assert (other_end.status_code, moved_after.status_code) == (409, 409)
    assert other_end.json() == moved_after.json() == {"detail": "the episode's resident has been discharged"}
    [event] = [
        e
        for e in await facility.published("vn.rehab.completed.v1")
        if isinstance(e, CompletedEvent) and e.data.episode_id == episode_id
    ]
    assert (str(event.data.completed_on), event.data.outcome, event.data.vocational_training) == (
        "2024-09-01",
        "completed",
        "may mặc",
    )
    assert (event.data.return_unit, event.source) == (HANOI_WARD, "/vn/agency/hanoi-dolisa")
    assert await audited(facility, "discharge", episode_id) == [{"agency": "hanoi-dolisa", "action": "discharge"}]


async def test_a_malformed_move_is_refused_naming_the_field(facility: Api) -> None:
    here, there = await a_registered_facility(facility), await a_registered_facility(facility)
    episode_id = await a_resident(facility, here)
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("transfer", a_move(there, reason="capacity\x00"), ["body", "reason"]),
        ("transfer", a_move(there, transferred_on="2999-01-01"), ["body", "transferred_on"]),
        ("transfer", a_move("-bad-"), ["body", "to_facility_id"]),
        ("discharge", AN_END | {"return_unit": "01"}, ["body", "return_unit"]),
        ("discharge", AN_END | {"outcome": "escaped"}, ["body", "outcome"]),
        ("discharge", AN_END | {"vocational_training": "may\x00"}, ["body", "vocational_training"]),
    ]
    for move, body, field in cases:
        answer = await facility.client.post(
            f"/v1/episodes/{episode_id}/{move}", json=body, headers=facility.as_operator()
        )
        assert answer.status_code == 422, (body, answer.text)
        assert fields(answer) == [field], (body, answer.text)


async def test_moves_of_an_episode_with_no_resident_are_not_found(facility: Api) -> None:
    there = await a_registered_facility(facility)

    transfer = await facility.client.post(
        "/v1/episodes/ep-none/transfer", json=a_move(there), headers=facility.as_operator()
    )
    discharge = await facility.client.post(
        "/v1/episodes/ep-none/discharge", json=AN_END, headers=facility.as_operator()
    )

    assert (transfer.status_code, discharge.status_code) == (404, 404)
    assert transfer.json() == discharge.json() == {"detail": "the episode has no resident here (yet)"}


async def test_moves_are_refused_to_an_agency_of_another_province(facility: Api) -> None:
    here, there = await a_registered_facility(facility), await a_registered_facility(facility)
    episode_id = await a_resident(facility, here)
    danang = await facility.token("48", agency="danang-dolisa")

    transfer = await facility.client.post(f"/v1/episodes/{episode_id}/transfer", json=a_move(there), headers=danang)
    discharge = await facility.client.post(f"/v1/episodes/{episode_id}/discharge", json=AN_END, headers=danang)

    assert (transfer.status_code, discharge.status_code) == (403, 403)
    refused = {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-dolisa"}
    assert transfer.json() == discharge.json() == refused
    assert await facility.rows("SELECT id FROM audit_log WHERE target = :e", e=episode_id) == []


async def test_an_admission_into_an_unregistered_facility_waits_for_its_registration(facility: Api) -> None:
    body = a_new_facility()
    episode_id = await a_resident(facility, body["facility_id"])
    path = f"/v1/episodes/{episode_id}"
    parked = "SELECT awaiting FROM parked_events WHERE awaiting = :k"
    waiting = f"facility:{body['facility_id']}"

    before = await facility.client.get(path, headers=facility.as_operator())
    parked_before = await facility.rows(parked, k=waiting)
    registered = await facility.client.post("/v1/facilities", json=body, headers=facility.as_operator())
    after = await facility.client.get(path, headers=facility.as_operator())

    assert (before.status_code, registered.status_code, after.status_code) == (404, 201, 200)
    assert parked_before == [{"awaiting": waiting}]
    assert await facility.rows(parked, k=waiting) == []
    assert after.json()["facility_id"] == body["facility_id"]
