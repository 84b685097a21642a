"""The Grafana dashboard: provisioned, valid PromQL on series that exist, and every signal of the suite on it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.ops.conftest import ROOT, exported_series, load_yaml, series_in

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "hoinhap.json"


def panels() -> list[dict[str, Any]]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def as_promql(query: str) -> str:
    """A dashboard query as Prometheus receives it once Grafana has filled in its variables."""
    return query.replace("$__rate_interval", "1m").replace("$service", ".*")


def test_every_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:query_{i}", "expr": as_promql(q)} for i, q in enumerate(queries())]
    path = tmp_path / "dashboard.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_queries_read_only_series_that_exist(known_series: set[str]) -> None:
    for query in queries():
        assert series_in(query), query
        assert series_in(query) <= known_series, query


def test_every_metric_of_the_suite_is_on_the_dashboard() -> None:
    """Recording rules count: the view-age panel reads the view timestamps through one."""
    rules = {
        r["record"]: r["expr"]
        for g in load_yaml(ROOT / "deploy/prometheus/rules/hoinhap.yml")["groups"]
        for r in g["rules"]
        if "record" in r
    }
    shown = set().union(*(series_in(q) for q in queries()))
    shown |= set().union(*(series_in(rules[s]) for s in shown if s in rules))
    ours = {s for s in exported_series() if s.startswith("hoinhap_") and not s.endswith(("_sum", "_count"))}
    assert ours <= shown


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_provisions_the_prometheus_data_source_and_this_dashboard() -> None:
    [source] = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    used = {t["datasource"]["uid"] for p in panels() for t in p["targets"]} | {p["datasource"]["uid"] for p in panels()}
    assert used == {source["uid"]}
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"  # the compose service; tests/ops/test_compose.py checks it
    [provider] = load_yaml(GRAFANA / "provisioning" / "dashboards" / "hoinhap.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"  # where compose mounts deploy/grafana/dashboards
