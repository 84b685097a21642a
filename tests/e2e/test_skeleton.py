"""The walking skeleton: an admission posted to intake is counted by reporting, once, whatever the broker does.

Each test uses its own year (and reads the ward it admits in where the reporting seeds fill the year), so the
counts of one never disturb another.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.events import serialize
from tests.builders import an_admission, an_event
from tests.e2e.conftest import STANDARD_FACILITY, Suite, eventually

pytestmark = pytest.mark.e2e

HOAN_KIEM, CUA_NAM = "00070", "00073"  # Hà Nội (01)
BIEN_HOA = "26068"  # Đồng Nai (75)


def a_national_id() -> str:
    return "0" + "".join(secrets.choice("0123456789") for _ in range(11))


async def register(intake: httpx.AsyncClient, ward: str) -> str:
    response = await intake.post(
        "/v1/persons",
        json={"national_id": a_national_id(), "sex": "female", "birth_year": 1995, "residence_unit": ward},
    )
    assert response.status_code == 201, response.text
    subject: str = response.json()["subject"]
    return subject


async def admit(intake: httpx.AsyncClient, subject: str, modality: str, on: str, ward: str) -> httpx.Response:
    body: dict[str, Any] = {
        "subject": subject,
        "modality": modality,
        "admitted_on": on,
        "unit": ward,
        "substances": ["ats", "cannabis"],
    }
    if modality in {"compulsory", "voluntary_facility", "temporary_stay", "status_determination"}:
        body["facility_id"] = STANDARD_FACILITY
    else:
        body["service_point_id"] = f"sp-{ward}"
    if modality == "compulsory":
        body["legal_basis"] = "Quyết định 15/2021/QĐ-TA"
    return await intake.post("/v1/admissions", json=body)


async def value(reporting: httpx.AsyncClient, indicator: str, unit: str, period: str) -> int:
    response = await reporting.get(f"/v1/indicators/{indicator}", params={"unit": unit, "period": period})
    assert response.status_code == 200, response.text
    count: int = response.json()["value"]
    return count


async def metric(client: httpx.AsyncClient, line_prefix: str) -> float:
    text = (await client.get("/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_prefix))


Record = ConsumerRecord[bytes, bytes]


async def records_of(
    suite: Suite, topic: str, wanted: int, match: Callable[[Record], bool] = lambda _: True, timeout: float = 20
) -> list[Record]:
    """Read a topic from the beginning until `wanted` records that `match`, or `timeout`."""
    consumer = AIOKafkaConsumer(
        suite.topic(topic), bootstrap_servers=suite.infra.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < wanted and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                found.extend(r for r in batch if match(r))
    finally:
        await consumer.stop()
    return found


async def test_admissions_are_counted_by_modality_and_unit(suite: Suite) -> None:
    applied = 'hoinhap_events_consumed_total{result="applied",type="admitted"}'
    async with suite.client("facility") as facility:
        applied_before = await metric(facility, applied)  # other tests' events count there too
    async with suite.client("intake") as intake, suite.client("reporting") as reporting:
        hanoi = [await register(intake, HOAN_KIEM) for _ in range(4)]
        dongnai = [await register(intake, BIEN_HOA) for _ in range(2)]
        admissions = [
            (hanoi[0], "compulsory", "2021-01-15", HOAN_KIEM),
            (hanoi[1], "compulsory", "2021-04-02", HOAN_KIEM),
            (hanoi[2], "voluntary_facility", "2021-02-10", HOAN_KIEM),
            (hanoi[3], "methadone", "2021-11-30", HOAN_KIEM),
            (dongnai[0], "voluntary_community", "2021-03-03", BIEN_HOA),
            (dongnai[1], "temporary_stay", "2021-07-21", BIEN_HOA),
        ]
        for subject, modality, on, ward in admissions:
            response = await admit(intake, subject, modality, on, ward)
            assert response.status_code == 201, response.text

        total = await eventually(lambda: value(reporting, "admissions.total", "VN", "2021"), 6)
        assert total == 6
        assert await value(reporting, "admissions.compulsory", "01", "2021") == 2
        assert await value(reporting, "admissions.compulsory", HOAN_KIEM, "2021") == 2
        assert await value(reporting, "admissions.compulsory", "01", "2021-Q1") == 1
        assert await value(reporting, "admissions.compulsory", "75", "2021") == 0
        assert await value(reporting, "admissions.voluntary_community", "75", "2021") == 1
        assert await value(reporting, "admissions.voluntary_community", BIEN_HOA, "2021-03") == 1
        assert await value(reporting, "admissions.temporary_stay", "VN", "2021-H2") == 1
        assert await value(reporting, "admissions.total", "01", "2021") == 4
        assert await value(reporting, "admissions.total", "75", "2021") == 2
        assert await value(reporting, "admissions.total", "VN", "2010") == 0

        csv = await reporting.get("/v1/indicators", params={"unit": "01", "period": "2021", "format": "csv"})
        assert "admissions.compulsory,Compulsory residential treatment,01,2021,2," in csv.text

    async with suite.client("facility") as facility:

        async def facility_applied_them_too() -> bool:
            return await metric(facility, applied) >= applied_before + 6

        assert await eventually(facility_applied_them_too, True)


async def test_posting_the_same_admission_twice_counts_once(suite: Suite) -> None:
    async with suite.client("intake") as intake, suite.client("reporting") as reporting:
        subject = await register(intake, CUA_NAM)
        first = await admit(intake, subject, "compulsory", "2022-05-05", CUA_NAM)
        again = await admit(intake, subject, "compulsory", "2022-05-05", CUA_NAM)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["episode_id"] == again.json()["episode_id"]

        barrier = await admit(intake, await register(intake, CUA_NAM), "status_determination", "2022-05-06", CUA_NAM)
        assert barrier.status_code == 201
        assert await eventually(lambda: value(reporting, "admissions.status_determination", "VN", "2022"), 1) == 1
        assert await value(reporting, "admissions.compulsory", "VN", "2022") == 1


async def test_a_redelivered_event_counts_once(suite: Suite, producer: AIOKafkaProducer) -> None:
    async with suite.client("intake") as intake, suite.client("reporting") as reporting:
        subject = await register(intake, HOAN_KIEM)
        episode = (await admit(intake, subject, "compulsory", "2023-02-01", HOAN_KIEM)).json()["episode_id"]
        assert await eventually(lambda: value(reporting, "admissions.compulsory", HOAN_KIEM, "2023"), 1) == 1

        published = await records_of(suite, "rehab.admitted", 1, lambda r: episode.encode() in (r.value or b""))
        assert len(published) == 1
        original = published[0]
        await producer.send_and_wait(original.topic, original.value, key=original.key, headers=list(original.headers))
        # Same subject, so same key and partition: processed after the redelivered copy.
        barrier = await admit(intake, subject, "methadone", "2023-09-01", HOAN_KIEM)
        assert barrier.status_code == 201
        assert await eventually(lambda: value(reporting, "admissions.methadone", HOAN_KIEM, "2023"), 1) == 1
        assert await value(reporting, "admissions.compulsory", HOAN_KIEM, "2023") == 1


async def test_an_invalid_record_is_dead_lettered_and_the_consumer_goes_on(
    suite: Suite, producer: AIOKafkaProducer
) -> None:
    async with suite.client("intake") as intake, suite.client("reporting") as reporting:
        subject = await register(intake, HOAN_KIEM)
        dead_before = await metric(reporting, 'hoinhap_deadletter_records_total{reason="invalid_')
        wrong_modality = json.loads(serialize(an_event(an_admission(unit=HOAN_KIEM), subject=subject)))
        wrong_modality["data"]["modality"] = "teleportation"
        key = subject.encode()
        await producer.send_and_wait(suite.topic("rehab.admitted"), b"{not json", key=key)
        await producer.send_and_wait(suite.topic("rehab.admitted"), json.dumps(wrong_modality).encode(), key=key)

        barrier = await admit(intake, subject, "methadone", "2019-06-01", HOAN_KIEM)
        assert barrier.status_code == 201
        assert await eventually(lambda: value(reporting, "admissions.methadone", "VN", "2019"), 1) == 1

        def mine(r: Record) -> bool:  # other tests dead-letter records too: this test's have its subject as key
            return r.key == key and dict(r.headers).get("hoinhap-service") == b"reporting"

        dead = await records_of(suite, "rehab.deadletter", 2, mine, timeout=30)
        reasons = {dict(r.headers)["hoinhap-reason"]: dict(r.headers) for r in dead}
        assert set(reasons) == {b"invalid_json", b"invalid_event"}
        assert b"data.modality" in reasons[b"invalid_event"]["hoinhap-reason-detail"]
        assert reasons[b"invalid_json"]["hoinhap-original-topic"] == suite.topic("rehab.admitted").encode()
        assert {r.value for r in dead} == {b"{not json", json.dumps(wrong_modality).encode()}
        assert await metric(reporting, 'hoinhap_deadletter_records_total{reason="invalid_') == dead_before + 2
