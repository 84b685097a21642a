"""What the operators on call see: a real Prometheus scrapes the four service processes, with the deploy rules,
while events flow through them; and what the services write to their logs.

The suite is shared with the other end-to-end tests, so counts are compared with their values before each step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from hoinhap import local
from shared.events import serialize
from tests import prometheus as prom
from tests.builders import an_admission, an_event
from tests.e2e.conftest import Suite, eventually
from tests.e2e.test_skeleton import a_national_id, admit, register

pytestmark = pytest.mark.e2e

HOAN_KIEM = "00070"
APPLIED = 'sum by (service) (hoinhap_events_consumed_total{type="admitted", result="applied"})'
PUBLISHED = 'sum(hoinhap_events_published_total{type="admitted", result="acknowledged"})'
POSTED = 'sum(hoinhap_http_requests_total{route="/v1/admissions", method="POST", status="201"}) or vector(0)'
LAG = "sum(hoinhap_consumer_lag_records)"
BACKLOG = "max(hoinhap_outbox_backlog_events)"
VIEW_AGE = "view:hoinhap_view_newest_event_age_seconds:max"


@pytest.fixture(scope="module")
def prometheus(suite: Suite, artifacts: Path) -> Iterator[prom.Prometheus]:
    targets = {name: f"127.0.0.1:{process.port}" for name, process in suite.processes.items()}
    running = prom.start(targets, artifacts / "prometheus.log")
    try:
        yield running
    finally:
        running.stop()
        local.remove(running.workdir)


async def test_prometheus_sees_events_flow_consumers_catch_up_and_a_bad_record_dead_lettered(
    suite: Suite, prometheus: prom.Prometheus, producer: AIOKafkaProducer
) -> None:
    all_up = dict.fromkeys(local.SERVICES, 1.0)
    assert await eventually(lambda: prometheus.query('up{job="hoinhap"}'), all_up, timeout=90) == all_up
    # Each consumer reports one lag series per partition it holds, and has nothing left to consume.
    held = "count by (service) (hoinhap_consumer_lag_records)"

    async def services_holding_whole_topics() -> set[str]:  # every topic has 3 partitions; every service consumes
        return {service for service, n in (await prometheus.query(held)).items() if n and n % 3 == 0}

    assert await eventually(services_holding_whole_topics, set(local.SERVICES), timeout=90) == set(local.SERVICES)
    assert await eventually(lambda: prometheus.query(LAG), {"": 0.0}) == {"": 0}
    assert await eventually(lambda: prometheus.query(BACKLOG), {"": 0.0}) == {"": 0}

    # Five admissions through intake's HTTP API: published once by intake, applied once by each consumer.
    applied_before, published_before, posted_before = [await prometheus.query(q) for q in (APPLIED, PUBLISHED, POSTED)]
    async with suite.client("intake") as intake:
        for _ in range(5):
            response = await admit(intake, await register(intake, HOAN_KIEM), "compulsory", "2018-03-01", HOAN_KIEM)
            assert response.status_code == 201, response.text

    # intake recorded its own admissions when it made them, so its consumer finds them applied already.
    expected = {service: n + 5 * (service != "intake") for service, n in applied_before.items()}
    assert await eventually(lambda: prometheus.query(APPLIED), expected) == expected
    published = {"": published_before[""] + 5}
    assert await eventually(lambda: prometheus.query(PUBLISHED), published) == published
    posted = {"": posted_before[""] + 5}
    assert await eventually(lambda: prometheus.query(POSTED), posted) == posted
    assert await eventually(lambda: prometheus.query(LAG), {"": 0.0}) == {"": 0}
    assert await eventually(lambda: prometheus.query(BACKLOG), {"": 0.0}) == {"": 0}

    updated = {"daily_totals", "episodes"}  # what an admission updates

    async def views_updated() -> bool:  # other tests' events may have updated other views before
        return updated <= set(await prometheus.query(VIEW_AGE, by="view"))

    assert await eventually(views_updated, True)
    age = (await prometheus.query(VIEW_AGE, by="view"))["daily_totals"]
    assert 0 <= age < 600  # the admissions happened just now

    # A record that is not even JSON: dead-lettered by every consumer of `admitted`, and the alert fires.
    dead = 'sum by (service) (hoinhap_deadletter_records_total{reason="invalid_json"})'
    dead_before = await prometheus.query(dead)
    await producer.send_and_wait(suite.topic("rehab.admitted"), b"{not json", key=b"ops-test")
    expected_dead = {service: n + 1 for service, n in dead_before.items()}
    assert await eventually(lambda: prometheus.query(dead), expected_dead) == expected_dead
    alerts = {("HoinhapDeadLetters", service) for service in local.SERVICES}

    async def dead_letter_alerts() -> set[tuple[str, str]]:
        return {alert for alert in await prometheus.firing() if alert in alerts}

    assert await eventually(dead_letter_alerts, alerts) == alerts
    assert await eventually(lambda: prometheus.query(LAG), {"": 0.0}) == {"": 0}


async def test_service_logs_are_json_lines_with_event_ids_and_no_personal_data(
    suite: Suite, producer: AIOKafkaProducer, service_env: dict[str, str], artifacts: Path
) -> None:
    national_id = a_national_id()
    async with suite.client("intake") as intake:
        response = await intake.post(
            "/v1/persons",
            json={"national_id": national_id, "sex": "male", "birth_year": 1988, "residence_unit": HOAN_KIEM},
        )
        assert response.status_code == 201, response.text
    # A valid event whose ward no longer exists: every consumer dead-letters it and logs which event it was.
    admission = an_admission(unit="99999")
    event = an_event(admission)
    await producer.send_and_wait(suite.topic("rehab.admitted"), serialize(event), key=event.subject.encode())

    def lines() -> list[dict[str, object]]:
        return [
            {"file": path.stem, **json.loads(line)}
            for path in (artifacts / "e2e-logs").glob("*.log")
            for line in path.read_text().splitlines()
        ]

    def refused() -> list[dict[str, object]]:
        return [line for line in lines() if line.get("event_id") == event.id]

    async def refusals() -> int:
        return len(refused())

    assert await eventually(refusals, 4) == 4
    assert sorted(str(line["service"]) for line in refused()) == ["aftercare", "facility", "intake", "reporting"]
    for line in refused():
        assert line["reason"] == "unknown_unit"
        assert line["episode_id"] == admission.episode_id
        assert {"topic", "partition", "offset"} <= set(line)
    everything = lines()
    assert all(line["service"] == line["file"] for line in everything)
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in everything)
    for secret in (national_id, service_env["HOINHAP_ADMIN_TOKEN"], service_env["HOINHAP_INTAKE_SUBJECT_KEY"]):
        assert secret not in text
