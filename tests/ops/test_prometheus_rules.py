"""The Prometheus configuration and its rules, checked by promtool; each alert shown firing on its own series."""

from __future__ import annotations

import subprocess

from tests.ops.conftest import PROMETHEUS_DIR, RULES, load_yaml, series_in

RULE_TESTS = PROMETHEUS_DIR / "tests" / "hoinhap_test.yml"


def promtool_says(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, check=False)


def test_promtool_accepts_the_configuration_and_the_rules_it_loads(promtool: str) -> None:
    checked = promtool_says(promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout  # rules/*.yml is wired in


def test_each_alert_fires_on_the_series_that_should_fire_it_and_only_then(promtool: str) -> None:
    tested = promtool_says(promtool, "test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_case_that_fires_it() -> None:
    alerts = {rule["alert"] for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule}
    fired = {
        case["alertname"]
        for test in load_yaml(RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert alerts == fired
    assert {"HoinhapServiceDown", "HoinhapConsumerLagGrowing", "HoinhapDeadLetters"} <= alerts
    assert {"HoinhapOutboxNotDraining", "HoinhapViewStale"} <= alerts


def test_rules_read_only_series_that_exist(known_series: set[str]) -> None:
    """A misspelt series makes a rule that promtool accepts and that never fires."""
    for group in load_yaml(RULES)["groups"]:
        for rule in group["rules"]:
            assert series_in(rule["expr"]) <= known_series, rule.get("alert") or rule["record"]
            assert series_in(rule["expr"]), rule
