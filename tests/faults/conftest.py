"""A suite of its own for tests that kill and restart services: its own database and topics, so the other
tests' suite never sees a process die."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Suite, isolated_suite
from tests.infra import Infra


@pytest.fixture(scope="module")
def restartable(infra: Infra, service_env: dict[str, str], admin_token: str, artifacts: Path) -> Iterator[Suite]:
    with isolated_suite(infra, service_env, admin_token, artifacts / "faults-logs") as suite:
        yield suite
