"""The case flow across the four processes, as commune teams, facilities and provincial departments use it:
admit -> transfer -> complete -> aftercare -> relapse -> re-admit, and complete -> employed; what they publish
conforms to the contract. Each test uses its own years and facilities, so no test disturbs another."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from tests.contract.test_schemas import committed
from tests.e2e.conftest import Suite, eventually, read_all
from tests.e2e.flow import (
    BIEN_HOA,
    CUA_NAM,
    HOAN_KIEM,
    admit,
    admitted,
    case,
    data_of,
    discharge,
    new_facility,
    register,
    resident,
)

pytestmark = pytest.mark.e2e

EVERY_TOPIC = (
    "rehab.admitted",
    "rehab.transferred",
    "rehab.completed",
    "rehab.relapsed",
    "rehab.employed",
    "rehab.aftercare_opened",
    "rehab.facility_registered",
)


async def test_admit_transfer_complete_aftercare_relapse_readmit_and_employment(suite: Suite) -> None:
    cs_a = await new_facility(suite, HOAN_KIEM, compulsory=5, voluntary_facility=5)
    cs_b = await new_facility(suite, CUA_NAM, compulsory=1)
    async with (
        suite.client("intake") as intake,
        suite.client("facility") as facility,
        suite.client("aftercare") as aftercare,
    ):
        # A commune admits two people into compulsory treatment at facility A.
        lan, minh = await register(intake), await register(intake)
        first = await admitted(intake, lan, "2016-01-10", cs_a)
        other = await admitted(intake, minh, "2016-01-12", cs_a)
        await resident(suite, first)
        await resident(suite, other)

        # Facility A moves Lan to B, which has one place; Minh cannot follow her there.
        moved = await facility.post(
            f"/v1/episodes/{first}/transfer",
            json={"transferred_on": "2016-03-01", "to_facility_id": cs_b, "reason": "gần nơi cư trú"},
        )
        assert moved.status_code == 201, moved.text
        assert [(s["facility_id"], s["ended_on"]) for s in moved.json()["stays"]] == [
            (cs_a, "2016-03-01"),
            (cs_b, None),
        ]
        full = await facility.post(
            f"/v1/episodes/{other}/transfer",
            json={"transferred_on": "2016-03-05", "to_facility_id": cs_b, "reason": "gần nơi cư trú"},
        )
        assert full.status_code == 409
        assert (
            full.json()["detail"]
            == f"facility {cs_b} has no compulsory place free on 2016-03-05: 1 residents for 1 places"
        )

        census = (await facility.get("/v1/census", params={"facility_id": cs_b, "on": "2016-03-01"})).json()
        assert census == {
            "facility_id": cs_b,
            "on": "2016-03-01",
            "residents": {"compulsory": 1},
            "capacity": {"compulsory": 1},
        }
        earlier = (await facility.get("/v1/census", params={"facility_id": cs_a, "on": "2016-02-01"})).json()
        assert earlier["residents"] == {"compulsory": 2}

        # Both complete treatment; aftercare takes them into management where they return to.
        done = await discharge(facility, first, "2016-07-01", vocational_training="may công nghiệp")
        assert done.status_code == 201, done.text
        assert (await discharge(facility, other, "2016-07-02", return_unit=CUA_NAM)).status_code == 201
        lan_case, minh_case = await case(suite, first), await case(suite, other)
        assert (lan_case["unit"], lan_case["opened_on"], lan_case["closed_on"]) == (HOAN_KIEM, "2016-07-01", None)
        assert minh_case["unit"] == CUA_NAM

        # Minh gets a loan; Lan relapses, her case closes, and intake re-admits her after the relapsed episode.
        loan = await aftercare.post(
            f"/v1/cases/{other}/employment", json={"employed_on": "2016-09-01", "support": "loan"}
        )
        assert loan.status_code == 201, loan.text
        assert loan.json()["supports"] == [{"support": "loan", "employed_on": "2016-09-01"}]
        relapse = await aftercare.post(f"/v1/cases/{first}/relapse", json={"detected_on": "2016-11-01"})
        assert relapse.status_code == 201, relapse.text
        assert (relapse.json()["closed_on"], relapse.json()["closed_reason"]) == ("2016-11-01", "relapsed")

        async def relapse_known_to_intake() -> Any:
            return (await intake.get(f"/v1/episodes/{first}")).json()["relapsed_on"]

        assert await eventually(relapse_known_to_intake, "2016-11-01") == "2016-11-01"
        again = await admit(intake, lan, "2017-01-05", cs_a)
        assert again.status_code == 201, again.text
        assert again.json()["previous_episode_id"] == first
        second = again.json()["episode_id"]
        await resident(suite, second)

    # What went over Kafka: each fact once, in the contract's form.
    records = [r for r in await read_all(suite, *EVERY_TOPIC) if r.key in {lan.encode(), minh.encode()}]
    for r in records:
        committed(data_of(r)["type"]).validate(data_of(r))
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_type[data_of(r)["type"].split(".")[2]].append(data_of(r)["data"])
    assert sorted(d["episode_id"] for d in by_type["admitted"]) == sorted([first, other, second])
    [re_admission] = [d for d in by_type["admitted"] if d["episode_id"] == second]
    assert re_admission["previous_episode_id"] == first
    assert by_type["transferred"] == [
        {
            "episode_id": first,
            "transferred_on": "2016-03-01",
            "from_facility_id": cs_a,
            "to_facility_id": cs_b,
            "reason": "gần nơi cư trú",
        }
    ]
    assert sorted((d["episode_id"], d["vocational_training"]) for d in by_type["completed"]) == sorted(
        [(first, "may công nghiệp"), (other, None)]
    )
    assert sorted((d["episode_id"], d["unit"]) for d in by_type["aftercare_opened"]) == sorted(
        [(first, HOAN_KIEM), (other, CUA_NAM)]
    )
    assert by_type["relapsed"] == [{"episode_id": first, "detected_on": "2016-11-01", "unit": HOAN_KIEM}]
    assert by_type["employed"] == [
        {"episode_id": other, "employed_on": "2016-09-01", "support": "loan", "unit": CUA_NAM}
    ]
    registered = [data_of(r) for r in await read_all(suite, "rehab.facility_registered")]
    for document in registered:
        committed(document["type"]).validate(document)
    assert {cs_a, cs_b} <= {d["data"]["facility_id"] for d in registered}

    # Every write is audited by id, never with personal data.
    audited = await suite.fetch(
        "SELECT 'intake' AS service, action, target FROM intake.audit_log WHERE target = ANY($1::text[]) "
        "UNION ALL SELECT 'facility', action, target FROM facility.audit_log WHERE target = ANY($1::text[]) "
        "UNION ALL SELECT 'aftercare', action, target FROM aftercare.audit_log WHERE target = ANY($1::text[])",
        [first, other, second, cs_a, cs_b],
    )
    assert sorted((a["service"], a["action"], a["target"]) for a in audited) == sorted(
        [
            ("intake", "admit", first),
            ("intake", "admit", other),
            ("intake", "admit", second),
            ("facility", "register_facility", cs_a),
            ("facility", "register_facility", cs_b),
            ("facility", "transfer", first),
            ("facility", "discharge", first),
            ("facility", "discharge", other),
            ("aftercare", "record_employment", other),
            ("aftercare", "record_relapse", first),
        ]
    )


async def test_treatment_in_the_community_ends_at_intake_and_is_followed_by_aftercare(suite: Suite) -> None:
    async with suite.client("intake") as intake:
        subject = await register(intake)
        episode = await admitted(
            intake, subject, "2016-02-01", None, modality="voluntary_community", service_point_id="sp-hk"
        )
        ended = await intake.post(
            f"/v1/episodes/{episode}/completion",
            json={"completed_on": "2016-08-01", "outcome": "completed", "return_unit": HOAN_KIEM},
        )
        assert ended.status_code == 201, ended.text
        assert (ended.json()["ended_on"], ended.json()["outcome"]) == ("2016-08-01", "completed")
    assert (await case(suite, episode))["opened_on"] == "2016-08-01"


async def test_the_rules_refuse_with_the_field_and_the_reason(suite: Suite) -> None:
    cs = await new_facility(suite, HOAN_KIEM, voluntary_facility=3)
    async with suite.client("intake") as intake, suite.client("facility") as facility:
        subject = await register(intake)
        unregistered = await admit(intake, subject, "2016-04-01", "f-nowhere", modality="voluntary_facility")
        assert (unregistered.status_code, unregistered.json()["detail"]) == (
            409,
            "facility_id is not registered with the facility service",
        )
        not_offered = await admit(intake, subject, "2016-04-01", cs)
        assert (not_offered.status_code, not_offered.json()["detail"]) == (
            409,
            f"facility {cs} does not offer compulsory",
        )
        episode = await admitted(intake, subject, "2016-04-01", cs, modality="voluntary_facility")
        second = await admit(intake, subject, "2016-04-02", "hn-cs3", modality="temporary_stay")
        assert (second.status_code, second.json()["detail"]) == (
            409,
            f"the person is still in residential episode {episode}; it must end before another begins",
        )
        for modality, facility_id, extra, field in (
            ("voluntary_community", None, {}, "service_point_id"),
            ("methadone", "hn-cs3", {"service_point_id": "sp-1"}, "facility_id"),
            ("compulsory", "hn-cs3", {"legal_basis": None}, "legal_basis"),
        ):
            refused = await admit(intake, subject, "2016-05-01", facility_id, modality=modality, **extra)
            assert refused.status_code == 422, modality
            assert refused.json()["detail"][0]["loc"][:2] == ["body", field], refused.text
        facility_episode = await intake.post(
            f"/v1/episodes/{episode}/completion",
            json={"completed_on": "2016-08-01", "outcome": "completed", "return_unit": HOAN_KIEM},
        )
        assert facility_episode.status_code == 409
        assert "the facility service discharges it" in facility_episode.json()["detail"]

        await resident(suite, episode)
        assert (await discharge(facility, episode, "2016-03-01")).status_code == 409  # before the stay began
        assert (await discharge(facility, episode, "2016-06-01")).status_code == 201
        assert (await discharge(facility, episode, "2016-06-01")).status_code == 200  # the same, again
        assert (await discharge(facility, episode, "2016-06-02")).status_code == 409
        future = await discharge(facility, episode, "2999-01-01")
        assert future.status_code == 422
        assert future.json()["detail"] == [
            {"loc": ["body", "completed_on"], "msg": "Value error, must not be in the future", "type": "value_error"}
        ]


async def test_agencies_write_only_within_their_jurisdiction(suite: Suite) -> None:
    cs = await new_facility(suite, HOAN_KIEM, compulsory=3)
    async with suite.client("facility") as operator:
        issued = await operator.post("/v1/tokens", json={"agency": "dongnai-dolisa", "units": ["75"]})
    token = issued.json()["token"]
    async with suite.client("intake") as intake:
        episode = await admitted(intake, await register(intake), "2016-06-01", cs)
    await resident(suite, episode)
    async with suite.client("facility") as facility:
        assert (await discharge(facility, episode, "2016-08-01")).status_code == 201
    await case(suite, episode)

    headers = {"Authorization": f"Bearer {token}"}
    writes = [
        ("facility", "PUT", f"/v1/facilities/{cs}", {"name": "X", "unit": HOAN_KIEM, "capacity": {"compulsory": 1}}),
        (
            "facility",
            "POST",
            f"/v1/episodes/{episode}/discharge",
            {"completed_on": "2016-08-02", "outcome": "died", "return_unit": BIEN_HOA},
        ),
        ("aftercare", "POST", f"/v1/cases/{episode}/relapse", {"detected_on": "2016-09-01"}),
        ("aftercare", "POST", f"/v1/cases/{episode}/employment", {"employed_on": "2016-09-01", "support": "loan"}),
        (
            "intake",
            "POST",
            f"/v1/episodes/{episode}/completion",
            {"completed_on": "2016-08-02", "outcome": "completed", "return_unit": BIEN_HOA},
        ),
    ]
    for service, method, path, body in writes:
        async with suite.client(service) as client:
            response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (service, path, response.text)
    async with suite.client("facility") as facility:
        census = await facility.get("/v1/census", params={"facility_id": cs, "on": "2016-07-01"}, headers=headers)
        assert census.status_code == 403
        async with suite.client("facility") as anonymous:
            anonymous.headers.pop("Authorization")
            assert (await anonymous.put(f"/v1/facilities/{cs}", json=writes[0][3])).status_code == 401
