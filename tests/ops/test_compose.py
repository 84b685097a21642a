"""docker-compose.yml, kept honest without a Docker engine: valid against the Compose Specification, and true to
the services, the Prometheus configuration and the Grafana provisioning it runs."""

from __future__ import annotations

import base64
import json
import re
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from hoinhap.local import SERVICES
from shared.events import all_topics
from tests.ops.conftest import PROMETHEUS_DIR, ROOT, load_yaml

COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
#: Where each stateful service keeps what must outlive a restart.
STATE = {
    "kafka": "/var/lib/kafka/data",
    "postgres": "/var/lib/postgresql/data",
    "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
    "alertmanager": "/alertmanager",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE)  # merge keys (<<) resolved, as Compose does
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    # The specification's JSON Schema as the check-jsonschema package vendors it (compose-spec/compose-spec).
    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    errors = [f"{e.json_path}: {e.message}" for e in validator(schema).iter_errors(compose)]
    assert errors == []


def test_every_variable_comes_from_the_environment_file_and_no_dollar_is_left_bare() -> None:
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?[^}]*\}", text))
    documented = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line}
    assert required == documented
    # Anything else after a `$` would be interpolated by Compose: a shell variable must be written `$$`.
    assert re.findall(r"(?<!\$)\$(?![${])", text.replace("$$", "")) == []


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", str(value)), f"{name}: {key}"
            if key == "DATABASE_URL":
                assert re.search(r"://[^:]+:\$\{POSTGRES_PASSWORD:\?", value), f"{name}: {key}"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_long_running_services_have_health_checks_and_wait_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        if service.get("restart") != "no":  # the one-shot topic creator exits; the rest must stay healthy
            assert service.get("healthcheck", {}).get("test"), name
            assert service["restart"] == "unless-stopped", name
        for dependency, how in service.get("depends_on", {}).items():
            assert how["condition"] in {"service_healthy", "service_completed_successfully"}, name
            if how["condition"] == "service_healthy":
                assert "healthcheck" in all_services[dependency], dependency


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, path in STATE.items():
        volumes = dict(v.split(":")[:2][::-1] for v in all_services[name]["volumes"])
        assert volumes.get(path) in compose["volumes"], name
    assert all_services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == STATE["kafka"]
    assert f"--storage.tsdb.path={STATE['prometheus']}" in all_services["prometheus"]["command"]


def test_host_paths_mounted_into_containers_exist(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source}"


def test_prometheus_sends_its_alerts_to_alertmanager_which_tells_the_operators(compose: dict[str, Any]) -> None:
    alertmanager = services(compose)["alertmanager"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in alertmanager["volumes"]
    [sent_to] = load_yaml(ROOT / "deploy/prometheus/prometheus.yml")["alerting"]["alertmanagers"]
    assert sent_to["static_configs"][0]["targets"] == ["alertmanager:9093"]
    config = load_yaml(ROOT / "deploy/alertmanager/alertmanager.yml")
    receivers = {r["name"] for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert all(route["receiver"] in receivers for route in routes)


def test_kafka_runs_in_kraft_mode_and_the_contract_topics_are_created(compose: dict[str, Any]) -> None:
    kafka = services(compose)["kafka"]["environment"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@kafka:9093"
    assert "CONTROLLER://:9093" in kafka["KAFKA_LISTENERS"].split(",")
    assert kafka["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert all(
        s["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        for n, s in services(compose).items()
        if n in SERVICES
    )
    cluster_id = kafka["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # what `kafka-storage format` accepts
    script = "\n".join(services(compose)["kafka-topics"]["command"])
    topics = " ".join(re.findall(r'topics="(?:\$\$topics )?([^"]+)"', script))
    assert sorted(topics.split()) == sorted(all_topics())
    assert "--partitions 3" in script


def test_the_four_services_run_from_one_image_and_prometheus_scrapes_each(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "hoinhap"]
    scraped = {c["labels"]["service"]: c["targets"] for c in job["static_configs"]}
    assert set(scraped) == set(SERVICES)
    for name, port in SERVICES.items():
        service = services(compose)[name]
        assert service["build"] == "."
        assert service["command"] == [name]
        assert service["environment"][f"HOINHAP_{name.upper()}_HOST"] == "0.0.0.0"
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert scraped[name] == [f"{name}:{port}"]


def test_prometheus_and_grafana_read_the_files_under_deploy(compose: dict[str, Any]) -> None:
    prometheus, grafana = services(compose)["prometheus"], services(compose)["grafana"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    assert "9090:9090" in prometheus["ports"][0]  # the data source's URL is http://prometheus:9090
