"""Agency tokens across the four services: issued by the operator, confined to a jurisdiction, revocable."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared.database import psql_params
from shared.events import TokenRevoked, new_event, serialize
from tests import reliability
from tests.e2e.conftest import Suite, eventually
from tests.e2e.test_skeleton import BIEN_HOA, HOAN_KIEM, Record, a_national_id, records_of

pytestmark = pytest.mark.e2e


def as_agency(suite: Suite, service: str, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.AsyncClient(base_url=suite.url(service), headers=headers, timeout=10)


async def issue(suite: Suite, service: str, agency: str, units: list[str]) -> dict[str, str]:
    async with suite.client(service) as operator:
        response = await operator.post("/v1/tokens", json={"agency": agency, "units": units})
    assert response.status_code == 201, response.text
    issued: dict[str, str] = response.json()
    return issued


async def status_of(client: httpx.AsyncClient, path: str) -> int:
    return (await client.get(path, params={"unit": "01", "period": "2024"})).status_code


async def test_an_agency_token_works_everywhere_within_its_jurisdiction_only(suite: Suite) -> None:
    hanoi = await issue(suite, "intake", "hanoi-dolisa", ["01"])
    async with (
        as_agency(suite, "intake", hanoi["token"]) as intake,
        as_agency(suite, "reporting", hanoi["token"]) as reporting,
    ):
        person: dict[str, str | int] = {"national_id": a_national_id(), "sex": "male", "birth_year": 1988}
        assert (await intake.post("/v1/persons", json={**person, "residence_unit": HOAN_KIEM})).status_code == 201
        outside = await intake.post("/v1/persons", json={**person, "residence_unit": BIEN_HOA})
        assert outside.status_code == 403
        assert "outside the jurisdiction" in outside.json()["detail"]
        reliability.tally("denied.cross_jurisdiction")

        assert await status_of(reporting, "/v1/indicators/admissions.total") == 200
        for unit in ("75", "VN", BIEN_HOA):
            response = await reporting.get("/v1/indicators", params={"unit": unit, "period": "2024"})
            assert response.status_code == 403, unit
            reliability.tally("denied.cross_jurisdiction")
        assert (await reporting.post("/v1/tokens", json={"agency": "x1", "units": ["01"]})).status_code == 403

    conn = await asyncpg.connect(**psql_params(suite.infra.database_url))
    try:
        entries = await conn.fetch("SELECT * FROM intake.audit_log WHERE token_id = $1", hanoi["token_id"])
    finally:
        await conn.close()
    assert [(e["agency"], e["action"], e["target"]) for e in entries] == [
        ("hanoi-dolisa", "register_person", f"ward {HOAN_KIEM}")
    ]
    assert str(person["national_id"]) not in str([dict(e) for e in entries])


async def test_requests_without_a_valid_token_are_refused(suite: Suite) -> None:
    for token in (None, "hn1.forged.token", "hn1..", secrets.token_urlsafe(24)):
        async with as_agency(suite, "reporting", token) as client:
            response = await client.get("/v1/indicators", params={"unit": "01", "period": "2024"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        reliability.tally("denied.unauthenticated")
    async with as_agency(suite, "intake", None) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/metrics")).status_code == 200


async def test_every_service_learns_of_a_token_and_stores_only_its_hash(suite: Suite) -> None:
    issued = await issue(suite, "facility", "dongnai-dolisa", ["75"])

    async def listed_by_aftercare() -> bool:
        async with suite.client("aftercare") as operator:
            return any(t["token_id"] == issued["token_id"] for t in (await operator.get("/v1/tokens")).json())

    assert await eventually(listed_by_aftercare, True)
    async with suite.client("aftercare") as operator:
        [info] = [t for t in (await operator.get("/v1/tokens")).json() if t["token_id"] == issued["token_id"]]
    assert info["agency"] == "dongnai-dolisa"
    assert info["units"] == ["75"]
    assert issued["token"] not in json.dumps(info)

    conn = await asyncpg.connect(**psql_params(suite.infra.database_url))
    try:
        row = await conn.fetchrow("SELECT * FROM aftercare.access_tokens WHERE token_id = $1", issued["token_id"])
        dumped = await conn.fetch("SELECT row_to_json(t)::text AS r FROM intake.access_tokens t")
    finally:
        await conn.close()
    assert row is not None
    assert row["token_sha256"] == hashlib.sha256(issued["token"].encode()).hexdigest()
    assert all(issued["token"] not in r["r"] for r in dumped)


async def test_a_revoked_token_is_refused_by_every_service_and_a_forged_revocation_is_not(
    suite: Suite, producer: AIOKafkaProducer
) -> None:
    issued = await issue(suite, "intake", "hanoi-molisa-office", ["01"])
    forged = TokenRevoked.model_validate_json(
        json.dumps({"token_id": issued["token_id"], "revoked_at": datetime.now(UTC).isoformat(), "signature": "0" * 64})
    )
    await producer.send_and_wait(
        suite.topic("rehab.access"),
        serialize(new_event(forged, subject=issued["token_id"], source="/vn/attacker")),
        key=issued["token_id"].encode(),
    )

    async def forged_dead_lettered() -> bool:
        def forged(r: Record) -> bool:
            return r.key == issued["token_id"].encode() and dict(r.headers).get("hoinhap-reason") == b"bad_signature"

        return bool(await records_of(suite, "rehab.deadletter", 1, forged, timeout=2))

    assert await eventually(forged_dead_lettered, True)
    async with as_agency(suite, "reporting", issued["token"]) as reporting:
        assert await status_of(reporting, "/v1/indicators") == 200

    async with suite.client("facility") as operator:
        assert (await operator.delete(f"/v1/tokens/{issued['token_id']}")).status_code == 204
        assert (await operator.delete("/v1/tokens/" + "f" * 32)).status_code == 404
    for service in ("intake", "facility", "aftercare", "reporting"):
        async with as_agency(suite, service, issued["token"]) as client:

            async def refused(client: httpx.AsyncClient = client) -> int:
                return await status_of(client, "/v1/tokens")

            assert await eventually(refused, 401) == 401, service
            reliability.tally("denied.unauthenticated")
