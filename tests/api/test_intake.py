"""Intake's routes, in process: what each refuses and with which answer, and what an accepted write stores,
stages in the outbox and audits."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from shared.events import AdmittedEvent, CompletedEvent
from tests.api.conftest import Api
from tests.builders import HANOI_WARD, a_facility, an_event

DANANG_WARD = "20195"  # Phường Hải Vân, Đà Nẵng (48)


def a_person(**overrides: Any) -> dict[str, Any]:
    return {
        "national_id": f"0{secrets.randbelow(10**11):011d}",
        "sex": "female",
        "birth_year": 1995,
        "residence_unit": HANOI_WARD,
    } | overrides


async def a_registered_person(intake: Api) -> str:
    registered = await intake.client.post("/v1/persons", json=a_person(), headers=intake.as_operator())
    assert registered.status_code == 201, registered.text
    subject: str = registered.json()["subject"]
    return subject


def an_admission(subject: str, **overrides: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "modality": "voluntary_community",
        "admitted_on": "2025-03-01",
        "unit": HANOI_WARD,
        "service_point_id": "sp-hk-1",
        "substances": ["ats"],
    } | overrides


def fields(answer: httpx.Response) -> list[list[str]]:
    return [e["loc"] for e in answer.json()["detail"]]


async def test_every_route_asks_for_a_valid_token(intake: Api) -> None:
    for method, path in [
        ("POST", "/v1/persons"),
        ("POST", "/v1/admissions"),
        ("GET", "/v1/episodes/ep-1"),
        ("POST", "/v1/episodes/ep-1/completion"),
    ]:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            answer = await intake.client.request(method, path, json={}, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_a_person_is_registered_once_under_a_pseudonym_and_audited(intake: Api) -> None:
    person = a_person()
    first = await intake.client.post("/v1/persons", json=person, headers=intake.as_operator())
    again = await intake.client.post("/v1/persons", json=person, headers=intake.as_operator())

    assert (first.status_code, again.status_code) == (201, 200)
    subject = first.json()["subject"]
    assert again.json()["subject"] == subject and len(subject) == 64 and person["national_id"] not in subject
    [stored] = await intake.rows("SELECT sex, birth_year, residence_unit FROM persons WHERE subject = :s", s=subject)
    assert stored == {"sex": "female", "birth_year": 1995, "residence_unit": HANOI_WARD}
    audited = await intake.rows("SELECT agency, action, target FROM audit_log WHERE action = 'register_person'")
    assert {"agency": "national-operator", "action": "register_person", "target": f"ward {HANOI_WARD}"} in audited


async def test_a_malformed_person_is_refused_naming_the_field_never_echoing_it(intake: Api) -> None:
    answer = await intake.client.post(
        "/v1/persons", json=a_person(national_id="12345-bad", birth_year=1800), headers=intake.as_operator()
    )

    assert answer.status_code == 422
    assert sorted(fields(answer)) == [["body", "birth_year"], ["body", "national_id"]]
    assert "12345-bad" not in answer.text


async def test_a_person_outside_the_callers_jurisdiction_is_refused(intake: Api) -> None:
    danang = await intake.token("48", agency="danang-police")

    answer = await intake.client.post("/v1/persons", json=a_person(), headers=danang)

    assert answer.status_code == 403
    assert answer.json() == {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-police"}


async def test_an_admission_is_stored_published_through_the_outbox_and_audited_once(intake: Api) -> None:
    subject = await a_registered_person(intake)
    hanoi = await intake.token("01", agency="hanoi-police")

    first = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=hanoi)
    again = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=hanoi)

    assert (first.status_code, again.status_code) == (201, 200)
    episode_id = first.json()["episode_id"]
    assert again.json() == first.json() == {"episode_id": episode_id, "previous_episode_id": None}
    [event] = [e for e in await intake.published("vn.rehab.admitted.v1") if e.subject == subject]
    assert isinstance(event, AdmittedEvent)
    assert (event.data.episode_id, event.data.sex, event.data.birth_year) == (episode_id, "female", 1995)
    assert event.source == "/vn/agency/hanoi-police"
    assert await intake.rows("SELECT event_id FROM inbox WHERE event_id = :i", i=event.id) == [{"event_id": event.id}]
    assert len(await intake.rows("SELECT id FROM audit_log WHERE action = 'admit' AND target = :e", e=episode_id)) == 1


async def test_an_admission_of_someone_not_registered_is_not_found(intake: Api) -> None:
    answer = await intake.client.post(
        "/v1/admissions", json=an_admission(secrets.token_hex(32)), headers=intake.as_operator()
    )

    assert answer.status_code == 404
    assert answer.json() == {"detail": "subject is not registered; POST /v1/persons first"}


async def test_where_a_modality_takes_place_is_checked_field_by_field(intake: Api) -> None:
    subject = await a_registered_person(intake)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"service_point_id": None}, ["body", "service_point_id"]),
        ({"modality": "methadone", "facility_id": "hn-mmt", "service_point_id": "sp-1"}, ["body", "facility_id"]),
        ({"modality": "compulsory", "facility_id": "hn-cs3", "service_point_id": None}, ["body", "legal_basis"]),
    ]
    for overrides, field in cases:
        answer = await intake.client.post(
            "/v1/admissions", json=an_admission(subject, **overrides), headers=intake.as_operator()
        )
        assert answer.status_code == 422, (overrides, answer.text)
        assert field in fields(answer), (overrides, answer.text)


async def test_a_residential_admission_needs_a_registered_facility_offering_it(intake: Api) -> None:
    subject = await a_registered_person(intake)
    facility = a_facility(capacity={"voluntary_facility": 10})
    residential = {
        "modality": "compulsory",
        "facility_id": facility.facility_id,
        "service_point_id": None,
        "legal_basis": "Quyết định 1/QĐ-TA",
    }

    unknown = await intake.client.post(
        "/v1/admissions", json=an_admission(subject, **residential), headers=intake.as_operator()
    )
    await intake.consume(an_event(facility))
    not_offered = await intake.client.post(
        "/v1/admissions", json=an_admission(subject, **residential), headers=intake.as_operator()
    )

    assert unknown.status_code == not_offered.status_code == 409
    assert unknown.json() == {"detail": "facility_id is not registered with the facility service"}
    assert not_offered.json() == {"detail": f"facility {facility.facility_id} does not offer compulsory"}


async def test_a_person_holds_one_open_residential_episode(intake: Api) -> None:
    subject = await a_registered_person(intake)
    facility = a_facility()
    await intake.consume(an_event(facility))
    stay = {"modality": "voluntary_facility", "facility_id": facility.facility_id, "service_point_id": None}

    first = await intake.client.post("/v1/admissions", json=an_admission(subject, **stay), headers=intake.as_operator())
    second = await intake.client.post(
        "/v1/admissions", json=an_admission(subject, **stay, admitted_on="2025-04-01"), headers=intake.as_operator()
    )

    assert (first.status_code, second.status_code) == (201, 409)
    assert first.json()["episode_id"] in second.json()["detail"]


async def test_an_admission_for_a_ward_outside_the_jurisdiction_is_refused(intake: Api) -> None:
    subject = await a_registered_person(intake)
    danang = await intake.token("48", agency="danang-police")

    answer = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=danang)

    assert answer.status_code == 403
    assert await intake.rows("SELECT episode_id FROM episodes WHERE subject = :s", s=subject) == []


async def test_treatment_in_the_community_ends_once_and_is_published(intake: Api) -> None:
    subject = await a_registered_person(intake)
    admitted = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=intake.as_operator())
    episode_id = admitted.json()["episode_id"]
    end = {"completed_on": "2025-09-01", "outcome": "completed", "return_unit": HANOI_WARD}
    path = f"/v1/episodes/{episode_id}/completion"

    early = await intake.client.post(path, json=end | {"completed_on": "2025-01-01"}, headers=intake.as_operator())
    first = await intake.client.post(path, json=end, headers=intake.as_operator())
    again = await intake.client.post(path, json=end, headers=intake.as_operator())
    other = await intake.client.post(path, json=end | {"outcome": "absconded"}, headers=intake.as_operator())

    assert (early.status_code, first.status_code, again.status_code, other.status_code) == (409, 201, 200, 409)
    assert first.json()["ended_on"] == "2025-09-01" and first.json()["outcome"] == "completed"
    [event] = [e for e in await intake.published("vn.rehab.completed.v1") if e.subject == subject]
    assert isinstance(event, CompletedEvent) and event.data.episode_id == episode_id


async def test_an_episode_is_read_within_the_jurisdiction_only(intake: Api) -> None:
    subject = await a_registered_person(intake)
    admitted = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=intake.as_operator())
    path = f"/v1/episodes/{admitted.json()['episode_id']}"

    own = await intake.client.get(path, headers=await intake.token(HANOI_WARD))
    other = await intake.client.get(path, headers=await intake.token(DANANG_WARD))
    missing = await intake.client.get("/v1/episodes/ep-none", headers=intake.as_operator())
    misspelt = await intake.client.get(path, params={"unti": "01"}, headers=intake.as_operator())
    malformed = await intake.client.get("/v1/episodes/-bad-", headers=intake.as_operator())

    assert (own.status_code, other.status_code, missing.status_code) == (200, 403, 404)
    assert own.json()["subject"] == subject
    assert (misspelt.status_code, malformed.status_code) == (422, 422)


async def test_the_relay_is_woken_after_a_write_that_published_and_not_after_a_refusal(intake: Api) -> None:
    subject = await a_registered_person(intake)
    woken: list[str] = []
    intake.runtime.relay.wake = lambda: woken.append("woken")  # type: ignore[method-assign]
    try:
        refused = await intake.client.post(
            "/v1/admissions", json=an_admission(subject, service_point_id=None), headers=intake.as_operator()
        )
        assert (refused.status_code, woken) == (422, [])
        admitted = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=intake.as_operator())
        assert (admitted.status_code, woken) == (201, ["woken"])
        again = await intake.client.post("/v1/admissions", json=an_admission(subject), headers=intake.as_operator())
        assert (again.status_code, woken) == (200, ["woken"])
    finally:
        del intake.runtime.relay.wake
