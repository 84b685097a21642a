"""What the deployment checks share: the repository's deploy files, promtool, and the series the services export."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry

from shared.observability import Metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules" / "hoinhap.yml"
#: Series Prometheus makes itself.
BUILTIN_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def required_tool(command: str, package: str) -> str:
    """The path of `command`; a test that needs it fails when it is missing, saying how to get it."""
    found = shutil.which(command)
    if found is None:
        pytest.fail(
            f"{command} not found: install Debian's {package} package (`sudo apt-get install {package}`), or run "
            "`bash .ci/run`, which installs what the tests need and runs them",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return required_tool("promtool", "prometheus")


def exported_series() -> set[str]:
    """Every series name a service's /metrics can show: ours and those of FastStream's Prometheus middleware."""
    registry = CollectorRegistry()
    Metrics(registry)
    KafkaPrometheusMiddleware(registry=registry)
    return {family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]}


def recorded_series() -> set[str]:
    return {rule["record"] for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "record" in rule}


def series_in(expr: str) -> set[str]:
    """The series names a PromQL expression reads (ours, FastStream's, the process collectors', recording rules and
    Prometheus's own)."""
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"', '""', expr)))
    ours = ("hoinhap_", "faststream_", "process_", "python_")
    return {n for n in names if n.startswith(ours) or ":" in n or n in BUILTIN_SERIES}


@pytest.fixture(scope="session")
def known_series() -> set[str]:
    return exported_series() | recorded_series() | BUILTIN_SERIES
