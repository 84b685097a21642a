"""Aftercare's routes, in process: the cases a ward manages, relapses and support; what each refuses and with which
answer, and what an accepted write stores, stages in the outbox and audits. Cases open as the consumer applies an
admission and its completion."""

from __future__ import annotations

from typing import Any

import httpx

from shared.events import AftercareOpenedEvent, EmployedEvent, RelapsedEvent
from tests.api.conftest import Api
from tests.builders import HANOI_WARD, a_completion, a_subject, an_admission, an_event

DANANG_WARD = "20195"  # Phường Hải Vân, Đà Nẵng (48)
OPENED_ON = "2024-09-01"  # the day the builders' completion ends treatment


async def a_case(aftercare: Api, **end: Any) -> str:
    """The episode of someone whose treatment ended, as intake announced it (consumed here)."""
    admitted = an_admission()
    subject = a_subject()
    completed = a_completion(episode_id=admitted.episode_id, **end)
    await aftercare.consume(an_event(admitted, subject), an_event(completed, subject))
    return admitted.episode_id


def fields(answer: httpx.Response) -> list[list[str]]:
    return [e["loc"] for e in answer.json()["detail"]]


async def audited(aftercare: Api, action: str, target: str) -> list[dict[str, Any]]:
    sql = "SELECT agency, action FROM audit_log WHERE action = :a AND target = :t"
    return await aftercare.rows(sql, a=action, t=target)


async def test_every_route_asks_for_a_valid_token(aftercare: Api) -> None:
    for method, path in [
        ("GET", "/v1/cases"),
        ("GET", "/v1/cases/ep-1"),
        ("POST", "/v1/cases/ep-1/relapse"),
        ("POST", "/v1/cases/ep-1/employment"),
    ]:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            answer = await aftercare.client.request(method, path, json={}, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_query_parameter_is_refused(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)

    for path, params in [
        ("/v1/cases", {"unit": HANOI_WARD, "stat": "all"}),
        (f"/v1/cases/{episode_id}", {"unti": "01"}),
    ]:
        answer = await aftercare.client.get(path, params=params, headers=aftercare.as_operator())
        assert answer.status_code == 422, (path, answer.text)
        assert fields(answer) == [["query"]]


async def test_a_completed_treatment_opens_a_case_where_the_person_returns_and_announces_it(aftercare: Api) -> None:
    episode_id = await a_case(aftercare, return_unit=DANANG_WARD)

    case = await aftercare.client.get(f"/v1/cases/{episode_id}", headers=aftercare.as_operator())

    assert case.status_code == 200
    assert {k: case.json()[k] for k in ("unit", "opened_on", "closed_on", "closed_reason", "supports")} == {
        "unit": DANANG_WARD,
        "opened_on": OPENED_ON,
        "closed_on": None,
        "closed_reason": None,
        "supports": [],
    }
    [event] = [
        e
        for e in await aftercare.published("vn.rehab.aftercare_opened.v1")
        if isinstance(e, AftercareOpenedEvent) and e.data.episode_id == episode_id
    ]
    assert (str(event.data.opened_on), event.data.unit) == (OPENED_ON, DANANG_WARD)
    assert (event.subject, event.source) == (case.json()["subject"], "/vn/hoinhap/aftercare")


async def test_someone_who_absconded_is_not_taken_into_management(aftercare: Api) -> None:
    episode_id = await a_case(aftercare, outcome="absconded")

    case = await aftercare.client.get(f"/v1/cases/{episode_id}", headers=aftercare.as_operator())

    assert case.status_code == 404
    assert case.json() == {"detail": "no post-treatment management follows that episode_id (yet)"}
    opened = await aftercare.published("vn.rehab.aftercare_opened.v1")
    assert [e for e in opened if isinstance(e, AftercareOpenedEvent) and e.data.episode_id == episode_id] == []


async def test_a_wards_cases_are_listed_open_or_all(aftercare: Api) -> None:
    still_open, relapsed = await a_case(aftercare), await a_case(aftercare)
    closed = await aftercare.client.post(
        f"/v1/cases/{relapsed}/relapse", json={"detected_on": "2024-11-01"}, headers=aftercare.as_operator()
    )
    assert closed.status_code == 201, closed.text
    ours = {still_open, relapsed}

    async def listed(**state: str) -> set[str]:
        answer = await aftercare.client.get(
            "/v1/cases", params={"unit": HANOI_WARD} | state, headers=await aftercare.token(HANOI_WARD)
        )
        assert answer.status_code == 200, answer.text
        return {c["episode_id"] for c in answer.json()} & ours

    assert await listed() == await listed(state="open") == {still_open}
    assert await listed(state="all") == ours


async def test_cases_are_listed_for_a_ward_within_the_jurisdiction(aftercare: Api) -> None:
    danang = await aftercare.token("48", agency="danang-dolisa")

    other = await aftercare.client.get("/v1/cases", params={"unit": HANOI_WARD}, headers=danang)
    province = await aftercare.client.get("/v1/cases", params={"unit": "48"}, headers=danang)
    unknown_ward = await aftercare.client.get("/v1/cases", params={"unit": "99999"}, headers=danang)
    no_unit = await aftercare.client.get("/v1/cases", headers=danang)
    bad_state = await aftercare.client.get("/v1/cases", params={"unit": DANANG_WARD, "state": "closed"}, headers=danang)

    assert other.status_code == 403
    assert other.json() == {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-dolisa"}
    for answer, field in [(province, "unit"), (unknown_ward, "unit"), (no_unit, "unit"), (bad_state, "state")]:
        assert (answer.status_code, fields(answer)) == (422, [["query", field]]), answer.text


async def test_a_case_is_read_within_its_wards_jurisdiction(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)
    path = f"/v1/cases/{episode_id}"

    by_ward = await aftercare.client.get(path, headers=await aftercare.token(HANOI_WARD, agency="hoan-kiem"))
    by_province = await aftercare.client.get(path, headers=await aftercare.token("01", agency="hanoi"))
    other = await aftercare.client.get(path, headers=await aftercare.token(DANANG_WARD, agency="hai-van"))
    missing = await aftercare.client.get("/v1/cases/ep-none", headers=aftercare.as_operator())

    assert (by_ward.status_code, by_province.status_code, other.status_code) == (200, 200, 403)
    assert by_ward.json() == by_province.json() and by_ward.json()["episode_id"] == episode_id
    assert other.json() == {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of hai-van"}
    assert missing.status_code == 404


async def test_a_relapse_closes_the_case_once_published_and_audited(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)
    path = f"/v1/cases/{episode_id}/relapse"
    ward = await aftercare.token(HANOI_WARD, agency="hoan-kiem")

    first = await aftercare.client.post(path, json={"detected_on": "2024-11-01"}, headers=ward)
    again = await aftercare.client.post(path, json={"detected_on": "2024-11-01"}, headers=ward)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (first.json()["closed_on"], first.json()["closed_reason"]) == ("2024-11-01", "relapsed")
    [event] = [
        e
        for e in await aftercare.published("vn.rehab.relapsed.v1")
        if isinstance(e, RelapsedEvent) and e.data.episode_id == episode_id
    ]
    assert (str(event.data.detected_on), event.data.unit) == ("2024-11-01", HANOI_WARD)
    assert (event.subject, event.source) == (first.json()["subject"], "/vn/agency/hoan-kiem")
    assert await audited(aftercare, "record_relapse", episode_id) == [
        {"agency": "hoan-kiem", "action": "record_relapse"}
    ]


async def test_a_closed_case_takes_no_other_relapse_nor_support(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)
    closed = await aftercare.client.post(
        f"/v1/cases/{episode_id}/relapse", json={"detected_on": "2024-11-01"}, headers=aftercare.as_operator()
    )
    assert closed.status_code == 201, closed.text

    relapse = await aftercare.client.post(
        f"/v1/cases/{episode_id}/relapse", json={"detected_on": "2024-12-01"}, headers=aftercare.as_operator()
    )
    support = await aftercare.client.post(
        f"/v1/cases/{episode_id}/employment",
        json={"employed_on": "2024-12-01", "support": "loan"},
        headers=aftercare.as_operator(),
    )

    assert (relapse.status_code, support.status_code) == (409, 409)
    refused = {"detail": f"post-treatment management of episode {episode_id} closed on 2024-11-01"}
    assert relapse.json() == support.json() == refused
    assert len(await audited(aftercare, "record_relapse", episode_id)) == 1


async def test_nothing_is_recorded_before_the_case_opened(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)

    relapse = await aftercare.client.post(
        f"/v1/cases/{episode_id}/relapse", json={"detected_on": "2024-08-31"}, headers=aftercare.as_operator()
    )
    support = await aftercare.client.post(
        f"/v1/cases/{episode_id}/employment",
        json={"employed_on": "2024-08-31", "support": "loan"},
        headers=aftercare.as_operator(),
    )

    assert (relapse.status_code, support.status_code) == (409, 409)
    began = f"before management of episode {episode_id} began on {OPENED_ON}"
    assert relapse.json() == {"detail": f"detected_on is {began}"}
    assert support.json() == {"detail": f"employed_on is {began}"}


async def test_support_is_recorded_once_per_kind_and_day_published_and_audited(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)
    path = f"/v1/cases/{episode_id}/employment"
    ward = await aftercare.token(HANOI_WARD, agency="hoan-kiem")
    job = {"employed_on": "2024-10-01", "support": "job_placement"}

    first = await aftercare.client.post(path, json=job, headers=ward)
    again = await aftercare.client.post(path, json=job, headers=ward)
    loan = await aftercare.client.post(path, json=job | {"support": "loan"}, headers=ward)

    assert (first.status_code, again.status_code, loan.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert first.json()["supports"] == [job]
    assert sorted(s["support"] for s in loan.json()["supports"]) == ["job_placement", "loan"]
    events = [
        e
        for e in await aftercare.published("vn.rehab.employed.v1")
        if isinstance(e, EmployedEvent) and e.data.episode_id == episode_id
    ]
    assert [(e.data.support, str(e.data.employed_on), e.data.unit) for e in events] == [
        ("job_placement", "2024-10-01", HANOI_WARD),
        ("loan", "2024-10-01", HANOI_WARD),
    ]
    assert {e.source for e in events} == {"/vn/agency/hoan-kiem"}
    assert len(await audited(aftercare, "record_employment", episode_id)) == 2


async def test_relapse_and_support_of_an_episode_with_no_case_are_not_found(aftercare: Api) -> None:
    relapse = await aftercare.client.post(
        "/v1/cases/ep-none/relapse", json={"detected_on": "2024-11-01"}, headers=aftercare.as_operator()
    )
    support = await aftercare.client.post(
        "/v1/cases/ep-none/employment",
        json={"employed_on": "2024-10-01", "support": "loan"},
        headers=aftercare.as_operator(),
    )

    assert (relapse.status_code, support.status_code) == (404, 404)
    assert relapse.json() == support.json() == {"detail": "no post-treatment management follows that episode_id (yet)"}


async def test_relapse_and_support_outside_the_jurisdiction_are_refused(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)
    danang = await aftercare.token("48", agency="danang-dolisa")

    relapse = await aftercare.client.post(
        f"/v1/cases/{episode_id}/relapse", json={"detected_on": "2024-11-01"}, headers=danang
    )
    support = await aftercare.client.post(
        f"/v1/cases/{episode_id}/employment", json={"employed_on": "2024-10-01", "support": "loan"}, headers=danang
    )

    assert (relapse.status_code, support.status_code) == (403, 403)
    refused = {"detail": f"unit {HANOI_WARD} is outside the jurisdiction of danang-dolisa"}
    assert relapse.json() == support.json() == refused
    assert await aftercare.rows("SELECT id FROM audit_log WHERE target = :e", e=episode_id) == []


async def test_a_malformed_relapse_or_support_is_refused_naming_the_field(aftercare: Api) -> None:
    episode_id = await a_case(aftercare)
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("relapse", {"detected_on": "2999-01-01"}, ["body", "detected_on"]),
        ("relapse", {"detected_on": "01/11/2024"}, ["body", "detected_on"]),
        ("relapse", {}, ["body", "detected_on"]),
        ("employment", {"employed_on": "2024-10-01", "support": "gift"}, ["body", "support"]),
        ("employment", {"employed_on": 1727740800, "support": "loan"}, ["body", "employed_on"]),
    ]
    for kind, body, field in cases:
        answer = await aftercare.client.post(
            f"/v1/cases/{episode_id}/{kind}", json=body, headers=aftercare.as_operator()
        )
        assert answer.status_code == 422, (body, answer.text)
        assert fields(answer) == [field], (body, answer.text)
