"""The metrics follow Prometheus's conventions and the logs are JSON lines that carry ids, never personal data."""

from __future__ import annotations

import json
import logging
import re

from prometheus_client import generate_latest

from shared.consumer import REASONS, DeadLetters
from shared.database import create_engine
from shared.observability import CONSUMED_RESULTS, JsonFormatter, Metrics

UNITS = ("seconds", "bytes", "records", "events", "total")
#: Gauges of a state, 1 or 0, which have no unit.
STATES = {"hoinhap_topic_retention_finite"}
IDS = {"id", "event_id", "episode_id", "subject", "national_id", "unit"}

#: The client library's own collectors: the process (memory, CPU, files), the platform and the garbage collector.
STANDARD = ("process_", "python_")


def test_metric_names_say_their_unit_and_labels_are_bounded() -> None:
    for family in Metrics().registry.collect():
        if family.name.startswith(STANDARD):
            continue
        assert re.fullmatch(r"hoinhap_[a-z]+(_[a-z]+)*", family.name), family.name
        exported = family.name + ("_total" if family.type == "counter" else "")
        assert exported.endswith(UNITS) or (family.type == "gauge" and family.name in STATES), exported
        if family.type != "counter":
            assert not family.name.endswith("_total"), family.name
        for sample in family.samples:
            assert not IDS & set(sample.labels), family.name


def test_the_process_and_its_garbage_collector_are_measured_too() -> None:
    names = {family.name for family in Metrics().registry.collect()}
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "python_gc_collections", "python_info"} <= names


def test_counters_start_at_zero_so_the_first_increase_shows() -> None:
    metrics = Metrics()
    DeadLetters(None, metrics, service="t", topic_prefix="")  # type: ignore[arg-type]
    text = generate_latest(metrics.registry).decode()
    for event_type in ("admitted", "transferred", "completed", "relapsed", "employed"):
        for result in CONSUMED_RESULTS:
            assert f'hoinhap_events_consumed_total{{result="{result}",type="{event_type}"}} 0.0' in text
        assert f'hoinhap_events_published_total{{result="acknowledged",type="{event_type}"}} 0.0' in text
    for reason in REASONS:
        assert f'hoinhap_deadletter_records_total{{reason="{reason}"}} 0.0' in text
    assert "_created" not in text  # one series per counter, not two


def test_a_late_older_event_leaves_a_view_as_fresh_as_it_was() -> None:
    metrics = Metrics()
    metrics.view_applied("indicator_totals", 1_700_000_000.0)
    metrics.view_applied("indicator_totals", 1_600_000_000.0)
    assert metrics.view_newest_event.labels("indicator_totals")._value.get() == 1_700_000_000.0
    metrics.view_applied("indicator_totals", 1_700_000_100.0)
    assert metrics.view_newest_event.labels("indicator_totals")._value.get() == 1_700_000_100.0


def test_a_log_line_is_json_with_the_service_and_event_ids_and_nothing_else_passed_along() -> None:
    record = logging.LogRecord("shared.consumer", logging.WARNING, __file__, 1, "record dead-lettered", (), None)
    record.__dict__ |= {"event_id": "e-1", "episode_id": "ep-1", "national_id": "079123456789", "name_vi": "Nguyễn"}
    line = json.loads(JsonFormatter("reporting").format(record))
    assert line["service"] == "reporting"
    assert (line["event_id"], line["episode_id"]) == ("e-1", "ep-1")
    assert "079123456789" not in json.dumps(line)
    assert "Nguyễn" not in json.dumps(line, ensure_ascii=False)


def test_database_errors_do_not_carry_the_statement_parameters_into_logs() -> None:
    engine = create_engine("postgresql://u@127.0.0.1:1/db", "intake")
    assert engine.sync_engine.hide_parameters
