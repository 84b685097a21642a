"""Fixtures every layer of the suite shares: the run's infrastructure and the environment services read."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import reliability
from tests.infra import Infra, provision

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with provision() as provisioned:
        yield provisioned


@pytest.fixture(scope="session")
def admin_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def service_env(infra: Infra, admin_token: str) -> dict[str, str]:
    """What a service process of this run reads from its environment."""
    return {
        "DATABASE_URL": infra.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "HOINHAP_TOPIC_PREFIX": infra.topic_prefix,
        "HOINHAP_ADMIN_TOKEN": admin_token,
        "HOINHAP_INTAKE_SUBJECT_KEY": "test-subject-key-" + secrets.token_hex(8),
        "HOINHAP_OUTBOX_POLL_SECONDS": "0.2",
        "HOINHAP_METRICS_INTERVAL_SECONDS": "0.5",
    }


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reliability.write_figures(int(exitstatus))
