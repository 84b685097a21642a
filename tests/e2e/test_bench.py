"""`python -m bench --quick`: the benchmark harness works end to end and writes every figure (not how fast)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra import Infra

pytestmark = pytest.mark.e2e

FIGURES = {
    "publish_eps",
    "raw_consume_eps",
    "raw_copy_rps",
    "floor_eps",
    "reporting_eps",
    "read_p50_ms",
    "read_p99_ms",
    "read_miss_p50_ms",
    "read_miss_p99_ms",
    "intake_eps",
    "facility_eps",
    "aftercare_eps",
    "naive_eps",
    "freshness_p50_ms",
    "freshness_p99_ms",
    "rebuild_1m_s",
    "rss_mib_reporting",
    "rss_mib_reporting_fresh",
}


def test_the_quick_benchmark_measures_every_figure(infra: Infra, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers, "DATABASE_URL": infra.database_url}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)], env=env, capture_output=True, check=False
    )
    assert run.returncode == 0, run.stdout.decode()[-3000:] + run.stderr.decode()[-3000:]

    written = json.loads(out.read_text())
    results = {r["name"]: r for r in written}
    assert set(results) >= FIGURES
    assert len(results) == len(written), "a figure written twice (a service measured more than once)"
    assert "median of 3:" in results["reporting_eps"]["note"]
    for name in FIGURES:
        assert math.isfinite(results[name]["value"]) and results[name]["value"] > 0, results[name]
        assert results[name]["params"]["quick"] is True
        assert "load" in results[name]
