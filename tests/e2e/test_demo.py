"""`hoinhap demo`: the same seed, loaded into two fresh suites through their APIs, gives identical tables."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from hoinhap.demo import load, plan
from tests.e2e.conftest import Suite, eventually, isolated_suite
from tests.infra import Infra

pytestmark = pytest.mark.e2e

SEED, SCALE, FIRST_YEAR = 7, 0.002, 2022
TABLES = [("VN", f"{FIRST_YEAR}/{date.today().year}"), ("75", "2023"), ("01", "2024-H1"), ("46", "2022/2024")]


async def tables(suite: Suite) -> dict[str, Any]:
    """Every indicator for a few units and periods, and a census, without what differs between runs."""
    found: dict[str, Any] = {}
    async with suite.client("reporting") as reporting:
        for unit, period in TABLES:
            response = await reporting.get("/v1/indicators", params={"unit": unit, "period": period})
            found[f"{unit} {period}"] = {
                i["indicator_id"]: (i["value"], i["target"]) for i in response.json()["indicators"]
            }
        census = await reporting.get("/v1/census", params={"unit": "VN", "on": "2024-06-14"})
        found["census"] = census.json()["modalities"]
    return found


async def loaded(suite: Suite, episodes: int) -> dict[str, Any]:
    urls = {name: process.url for name, process in suite.processes.items()}
    await load(urls, suite.token, SEED, SCALE, FIRST_YEAR)

    async def admitted() -> Any:
        return (await tables(suite))[f"VN {TABLES[0][1]}"]["admissions.total"][0]

    assert await eventually(admitted, episodes, timeout=120) == episodes

    # The last relapses and supports may still be on their way: wait until two readings agree.
    previous, deadline = await tables(suite), time.monotonic() + 60
    while True:
        await asyncio.sleep(3)
        current = await tables(suite)
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current


def test_the_same_seed_gives_identical_indicator_tables(
    infra: Infra, service_env: dict[str, str], admin_token: str, artifacts: Path
) -> None:
    people = plan(SEED, SCALE, FIRST_YEAR, date.today() - timedelta(days=1))
    episodes = sum(len(p.episodes) for p in people)
    runs = []
    for run in ("first", "second"):
        with isolated_suite(infra, service_env, admin_token, artifacts / f"demo-{run}-logs") as suite:
            runs.append(asyncio.run(loaded(suite, episodes)))
    assert runs[0] == runs[1]
    national = runs[0][f"VN {TABLES[0][1]}"]
    assert national["admissions.total"][0] == episodes > 20
    assert national["admissions.compulsory"][0] > 0
    assert national["aftercare_intake"][0] > 0
    assert runs[0]["75 2023"]["admissions.compulsory"] != (None, None)
