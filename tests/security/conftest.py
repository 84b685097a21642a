"""A suite of its own for the bad-input and security tests: its own database, topics and log files, so what they
publish and search never mixes with the other tests' data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Suite, isolated_suite
from tests.e2e.conftest import producer as producer  # a plain producer, as an outside agency or an attacker
from tests.infra import Infra

LOGS = "security-logs"
#: The same inputs on every run (CI must not fail by chance); HOINHAP_FUZZ_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("HOINHAP_FUZZ_RANDOM") != "1"


@pytest.fixture(scope="package")  # stopped once these tests are done
def secured(infra: Infra, service_env: dict[str, str], admin_token: str, artifacts: Path) -> Iterator[Suite]:
    # Events left waiting (an admission into a facility nobody registered) are dead-lettered after 10 s.
    parking = {"HOINHAP_PARKING_TIMEOUT_SECONDS": "10", "HOINHAP_PARKING_SWEEP_SECONDS": "1"}
    with isolated_suite(infra, {**service_env, **parking}, admin_token, artifacts / LOGS) as suite:
        yield suite
