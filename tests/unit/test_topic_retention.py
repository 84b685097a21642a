"""The contract's topics are the system of record: what they are made with, which retention expires records, what
a rebuild counts as deleted, and how `/readyz` names a topic that would expire records."""

from __future__ import annotations

from aiokafka import TopicPartition
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from services.reporting.write.rebuild import deleted_records
from shared.observability import Metrics, health_router
from shared.topics import Retention, TopicPolicy


def test_the_contract_topics_are_kept_for_ever_and_the_dead_letters_as_configured() -> None:
    policy = TopicPolicy(replication_factor=3, min_insync_replicas=2, deadletter_retention_days=2)

    assert policy.configs("p.rehab.admitted", "p.") == {
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "min.insync.replicas": "2",
    }
    assert policy.configs("p.rehab.deadletter", "p.")["retention.ms"] == str(2 * 86_400_000)
    assert TopicPolicy(deadletter_retention_days=-1).configs("rehab.deadletter", "")["retention.ms"] == "-1"


def test_a_topic_expires_records_when_its_age_or_size_limit_is_finite() -> None:
    assert not Retention("t", -1, -1).finite
    assert not Retention("t", None, None).finite  # the broker names no limit
    assert Retention("t", 604_800_000, -1).finite  # Apache Kafka's default: 7 days
    assert Retention("t", -1, 10**9).finite
    assert Retention("t", 0, None).finite
    assert str(Retention("t", 604_800_000, -1)) == "retention.ms=604,800,000 retention.bytes=for ever"


def test_records_deleted_are_the_earliest_offsets_summed_per_topic() -> None:
    earliest = {
        TopicPartition("a", 0): 0,
        TopicPartition("a", 1): 0,
        TopicPartition("b", 0): 40,
        TopicPartition("b", 1): 0,
        TopicPartition("b", 2): 2,
        TopicPartition("c", 0): 7,
    }

    assert deleted_records(earliest) == {"b": 42, "c": 7}
    assert deleted_records({TopicPartition("a", 0): 0}) == {}


def test_readyz_names_a_topic_that_would_expire_records_and_stays_ready() -> None:
    metrics = Metrics()
    app = FastAPI()
    app.include_router(health_router("reporting", metrics, {}))
    client = TestClient(app)
    metrics.topics_checked([Retention("rehab.admitted", 604_800_000, -1), Retention("rehab.completed", -1, -1)])

    answer = client.get("/readyz")

    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "service": "reporting",
        "warnings": {
            "topics": [{"topic": "rehab.admitted", "retention": "retention.ms=604,800,000 retention.bytes=for ever"}]
        },
    }
    text = generate_latest(metrics.registry).decode()
    assert 'hoinhap_topic_retention_finite{topic="rehab.admitted"} 1.0' in text
    assert 'hoinhap_topic_retention_finite{topic="rehab.completed"} 0.0' in text

    metrics.topics_checked([Retention("rehab.admitted", -1, -1)])  # fixed: the warning goes
    assert client.get("/readyz").json() == {"status": "ready", "service": "reporting"}
    assert 'hoinhap_topic_retention_finite{topic="rehab.admitted"} 0.0' in generate_latest(metrics.registry).decode()
