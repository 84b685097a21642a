"""Steps of the case flow as agencies take them over HTTP, and ways to read back what the services published."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from aiokafka import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Suite, eventually
from tests.e2e.test_skeleton import a_national_id

HOAN_KIEM, CUA_NAM = "00070", "00073"  # Hà Nội (01)
BIEN_HOA = "26068"  # Đồng Nai (75)


async def new_facility(suite: Suite, ward: str = HOAN_KIEM, **capacity: int) -> str:
    """Register a facility of the test's own and wait until intake knows it."""
    facility_id = f"f-{uuid.uuid4().hex[:10]}"
    async with suite.client("facility") as facility:
        body = {"name": f"Cơ sở cai nghiện ma túy {facility_id}", "unit": ward, "capacity": capacity}
        response = await facility.put(f"/v1/facilities/{facility_id}", json=body)
    assert response.status_code == 201, response.text

    async def known_to_intake() -> bool:
        return bool(await suite.fetch("SELECT 1 FROM intake.facilities WHERE facility_id = $1", facility_id))

    assert await eventually(known_to_intake, True, timeout=60)
    return facility_id


async def register(intake: httpx.AsyncClient, ward: str = HOAN_KIEM) -> str:
    response = await intake.post(
        "/v1/persons",
        json={"national_id": a_national_id(), "sex": "male", "birth_year": 1990, "residence_unit": ward},
    )
    assert response.status_code == 201, response.text
    subject: str = response.json()["subject"]
    return subject


async def admit(
    intake: httpx.AsyncClient,
    subject: str,
    on: str,
    facility_id: str | None,
    modality: str = "compulsory",
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "subject": subject,
        "modality": modality,
        "admitted_on": on,
        "unit": HOAN_KIEM,
        "facility_id": facility_id,
        "substances": ["ats"],
    }
    if modality == "compulsory":
        body["legal_basis"] = "Quyết định 15/2021/QĐ-TA"
    return await intake.post("/v1/admissions", json=body | extra)


async def admitted(intake: httpx.AsyncClient, subject: str, on: str, facility_id: str | None, **extra: Any) -> str:
    response = await admit(intake, subject, on, facility_id, **extra)
    assert response.status_code == 201, response.text
    episode_id: str = response.json()["episode_id"]
    return episode_id


async def status(client: httpx.AsyncClient, path: str) -> int:
    return (await client.get(path)).status_code


async def resident(suite: Suite, episode_id: str) -> None:
    """Wait until the facility service has made the admitted person a resident."""
    async with suite.client("facility") as facility:
        assert await eventually(lambda: status(facility, f"/v1/episodes/{episode_id}"), 200, timeout=60) == 200


async def case(suite: Suite, episode_id: str) -> dict[str, Any]:
    """Wait until aftercare has opened a case after the episode, and return it."""
    async with suite.client("aftercare") as aftercare:
        assert await eventually(lambda: status(aftercare, f"/v1/cases/{episode_id}"), 200, timeout=60) == 200
        found: dict[str, Any] = (await aftercare.get(f"/v1/cases/{episode_id}")).json()
    return found


async def discharge(facility: httpx.AsyncClient, episode_id: str, on: str, **fields: Any) -> httpx.Response:
    body = {"completed_on": on, "outcome": "completed", "vocational_training": None, "return_unit": HOAN_KIEM}
    return await facility.post(f"/v1/episodes/{episode_id}/discharge", json=body | fields)


def data_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.value or b"{}")
    return document


async def counter(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families((await client.get("/metrics")).text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total
