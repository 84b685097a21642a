"""The fault tests' own broker and PostgreSQL, which they stop and restart, and a suite of services on them per
test module (own database and topic prefix), so the other tests never see a process, a broker or a database die."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hoinhap import local
from shared.database import psql_params
from tests.e2e.conftest import Suite, isolated_suite
from tests.infra import Infra

#: Every random choice of the fault tests (which service, when) follows this seed; set it to replay a failure.
SEED = int(os.environ.get("HOINHAP_FAULT_SEED", "8"))


@dataclass
class OwnInfra:
    """A Tansu broker and an embedded PostgreSQL that only the fault tests use, with the handles to restart them."""

    infra: Infra
    tansu: local.Tansu
    postgres: local.EmbeddedPostgres

    def restart_broker(self) -> None:
        """Stop the broker and start it again on the same port: it comes back empty (memory storage)."""
        self.tansu.stop()
        self.tansu.start()

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_postgres(self) -> None:
        self.postgres.start()
        assert psql_params(self.postgres.url)["host"] == psql_params(self.infra.database_url)["host"]


@pytest.fixture(scope="package")
def own_infra(infra: Infra) -> Iterator[OwnInfra]:
    workdir = local.scratch_dir("hoinhap-faults-")
    tansu = local.Tansu(local.free_port(), workdir / "tansu.log").start()
    postgres = local.EmbeddedPostgres(workdir / "pgdata").start()
    try:
        yield OwnInfra(
            dataclasses.replace(
                infra,
                bootstrap_servers=tansu.bootstrap_servers,
                database_url=postgres.url,
                kafka_source="tansu (the fault tests' own)",
                postgres_source="embedded (the fault tests' own)",
            ),
            tansu,
            postgres,
        )
    finally:
        tansu.stop()
        postgres.stop()
        local.remove(workdir)


@pytest.fixture(scope="module")
def restartable(
    own_infra: OwnInfra, service_env: dict[str, str], admin_token: str, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Suite]:
    env = {
        **service_env,
        "KAFKA_BOOTSTRAP_SERVERS": own_infra.infra.bootstrap_servers,
        "HOINHAP_BROKER_CHECK_SECONDS": "1",
        "HOINHAP_PARKING_SWEEP_SECONDS": "1",
    }
    logs = artifacts / "faults-logs" / request.module.__name__.rsplit(".", 1)[-1]
    with isolated_suite(own_infra.infra, env, admin_token, logs) as suite:
        yield suite
