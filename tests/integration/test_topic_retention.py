"""The topics keep their records on the real broker: created to keep them for ever (the dead-letter topic as
configured), and a topic that would expire records reported at start (log, gauge, `/readyz`) and fixed by
`hoinhap topics fix`."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.reporting.settings import Settings
from shared.events import all_topics
from shared.kafka import ensure_topics
from shared.observability import Metrics, health_router
from shared.runtime import check_topics
from shared.topics import TopicPolicy, set_configs
from tests.infra import Infra

WEEK_MS = 7 * 86_400_000


async def configs_of(infra: Infra, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        await admin.close()
    return {r[3]: {e[0]: e[1] for e in r[4]} for response in described for r in response.get_item("resources")}


async def shorten(infra: Infra, topics: list[str], ms: int) -> None:
    """What a cluster's default does to a topic made without a retention: Apache Kafka's is 7 days."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        await set_configs(admin, {t: {"retention.ms": str(ms)} for t in topics})
    finally:
        await admin.close()


def hoinhap(infra: Infra, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers, "HOINHAP_TOPIC_PREFIX": prefix}
    return subprocess.run(
        [sys.executable, "-m", "hoinhap", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_topics_are_created_to_keep_their_records_for_ever_and_the_dead_letters_as_configured(
    infra: Infra,
) -> None:
    prefix = f"{infra.topic_prefix}ret{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3, TopicPolicy(deadletter_retention_days=2))

    configs = await configs_of(infra, all_topics(prefix))

    for topic in all_topics(prefix):
        kept = str(2 * 86_400_000) if topic == f"{prefix}rehab.deadletter" else "-1"
        assert configs[topic]["retention.ms"] == kept, topic
        assert configs[topic]["retention.bytes"] == "-1", topic
        assert configs[topic]["min.insync.replicas"] == "1", topic


async def test_a_topic_that_would_expire_records_is_reported_at_start_and_fixed(
    infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"{infra.topic_prefix}ret{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.bootstrap_servers, prefix, 3)
    admitted, completed = f"{prefix}rehab.admitted", f"{prefix}rehab.completed"
    await shorten(infra, [admitted, completed], WEEK_MS)
    settings = Settings(
        DATABASE_URL=infra.database_url,
        KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap_servers,
        HOINHAP_ADMIN_TOKEN="t" * 20,
        HOINHAP_TOPIC_PREFIX=prefix,
    )
    metrics = Metrics()
    app = FastAPI()
    app.include_router(health_router("reporting", metrics, {}))

    with caplog.at_level(logging.WARNING, logger="shared.runtime"):
        await check_topics(settings, metrics)

    warned = [r.getMessage() for r in caplog.records if "would expire records" in r.getMessage()]
    assert len(warned) == 2 and any(admitted in m and "retention.ms=604,800,000" in m for m in warned)
    assert metrics.topic_retention_finite.labels(admitted)._value.get() == 1
    assert metrics.topic_retention_finite.labels(f"{prefix}rehab.employed")._value.get() == 0
    ready = TestClient(app).get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert {w["topic"] for w in ready.json()["warnings"]["topics"]} == {admitted, completed}

    checked = await asyncio.to_thread(hoinhap, infra, prefix, "topics", "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{admitted}: retention.ms=604,800,000" in checked.stdout and "WOULD EXPIRE RECORDS" in checked.stdout
    assert f"{prefix}rehab.deadletter: retention.ms=2,592,000,000" in checked.stdout  # 30 days: it may

    fixed = await asyncio.to_thread(hoinhap, infra, prefix, "topics", "fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    configs = await configs_of(infra, [admitted, completed])
    assert {configs[t]["retention.ms"] for t in (admitted, completed)} == {"-1"}
    again = await asyncio.to_thread(hoinhap, infra, prefix, "topics", "check")
    assert again.returncode == 0, again.stdout + again.stderr

    await check_topics(settings, metrics)
    assert metrics.topic_retention_finite.labels(admitted)._value.get() == 0
    assert "warnings" not in TestClient(app).get("/readyz").json()
