"""No national ID, name or token anywhere it could be read back: sentinels submitted over HTTP, in requests that
are accepted and in requests that are refused, are searched for in every log line, every record of every topic
(dead letters included), every row of every table and view, every answer and every metric."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests import reliability
from tests.e2e.conftest import Suite
from tests.e2e.flow import HOAN_KIEM, admitted, case, discharge, resident
from tests.security import stores

pytestmark = pytest.mark.e2e


def a_national_id(digits: int = 12) -> str:
    return "0" + "".join(secrets.choice("0123456789") for _ in range(digits - 1))


def a_name() -> str:
    return f"Nguyễn Thị Sentinel {secrets.token_hex(4)}"


async def test_no_national_id_name_or_token_is_kept_published_logged_or_answered(
    secured: Suite, service_env: dict[str, str]
) -> None:
    national_ids = [a_national_id(), a_national_id(), a_national_id(9)]
    names = [a_name(), a_name()]
    answers: list[str] = []
    async with secured.client("intake") as operator:
        issued = (await operator.post("/v1/tokens", json={"agency": "hanoi-dolisa", "units": ["01"]})).json()
    agency = {"Authorization": f"Bearer {issued['token']}"}

    async with (
        httpx.AsyncClient(base_url=secured.url("intake"), headers=agency, timeout=30) as intake,
        httpx.AsyncClient(base_url=secured.url("facility"), headers=agency, timeout=30) as facility,
    ):
        # Accepted: people registered (names in fields the API does not take), one admitted and discharged.
        subjects = []
        for national_id, name in zip(national_ids, [*names, names[0]], strict=True):
            person = {"national_id": national_id, "sex": "female", "birth_year": 1991, "residence_unit": HOAN_KIEM}
            response = await intake.post("/v1/persons", json=person | {"name": name, "full_name": name, "ho_ten": name})
            assert response.status_code == 201, response.text
            answers.append(response.text)
            subjects.append(response.json()["subject"])
        episode = await admitted(intake, subjects[0], "2024-04-01", "hn-cs3")
        await resident(secured, episode)
        assert (await discharge(facility, episode, "2024-10-01")).status_code == 201
        reliability.tally("events_sent", 2)

        # Refused, each carrying a national ID or a name where it does not belong.
        refused = [
            intake.post("/v1/persons", json={**person, "national_id": national_ids[0] + "7"}),
            intake.post("/v1/persons", json={**person, "residence_unit": national_ids[1][:5] + "x"}),
            intake.post("/v1/persons", json={**person, "national_id": names[0]}),
            intake.post("/v1/admissions", json={"subject": national_ids[0], "modality": "methadone"}),
            intake.get(f"/v1/episodes/{national_ids[1]}"),
            facility.get(f"/v1/episodes/{names[1]}"),
            facility.get("/v1/census", params={"facility_id": national_ids[2], "on": "2024-05-01"}),
            intake.get("/v1/episodes/x1", headers={"Authorization": f"Bearer {national_ids[0]}"}),
            intake.post("/v1/tokens", json={"agency": names[0], "units": [national_ids[0]]}),
        ]
        for request in refused:
            response = await request
            assert 400 <= response.status_code < 500, response.text
            answers.append(response.text)
    await case(secured, episode)  # the discharge reached aftercare, which announced the case to reporting

    sentinels = {
        **{f"national ID {n}": n for n in national_ids},
        **{f"name {n}": n for n in names},
        "agency token": issued["token"],
        "operator token": secured.token,
        "subject key": service_env["HOINHAP_INTAKE_SUBJECT_KEY"],
    }
    places: dict[str, str] = {f"answer {i}": text for i, text in enumerate(answers)}
    places |= {f"log of {service}": text for service, text in stores.logs(secured).items()}
    places |= {f"topic {t}": "\n".join(records) for t, records in (await stores.topics(secured)).items()}
    places |= {f"table {t}": "\n".join(map(str, rows)) for t, rows in (await stores.tables(secured)).items()}
    for service in secured.processes:
        async with httpx.AsyncClient(base_url=secured.url(service)) as anonymous:
            places[f"metrics of {service}"] = (await anonymous.get("/metrics")).text

    found = [f"{what} in {where}" for what, s in sentinels.items() for where, text in places.items() if s in text]
    reliability.tally("secrets_searched", len(sentinels) * len(places))
    reliability.tally("secrets_found", len(found))
    assert not found, "\n".join(found)
    assert any(t.endswith("rehab.deadletter") for t in places if t.startswith("topic"))
    assert any(t.endswith("intake.persons") for t in places)
