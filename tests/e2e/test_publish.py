"""`hoinhap publish FILE`: bad rows reported precisely and nothing sent; a clean file changes the numbers by exactly
its contents; publishing it again changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import a_subject
from tests.e2e.conftest import STANDARD_FACILITY, Suite, eventually
from tests.e2e.test_skeleton import metric, value

pytestmark = pytest.mark.e2e

HAI_VAN = "20195"  # Phường Hải Vân, Đà Nẵng (48): no other test writes there
HEADER = (
    "subject,episode_id,modality,admitted_on,unit,facility_id,sex,birth_year,substances,legal_basis,service_point_id"
)


def admissions_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def publish(suite: Suite, path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": suite.infra.bootstrap_servers,
        "HOINHAP_TOPIC_PREFIX": suite.infra.topic_prefix,
        "HOINHAP_TOKEN": suite.token,
    }
    return subprocess.run(
        [sys.executable, "-m", "hoinhap", "publish", str(path), "--agency", "danang-dolisa", *flags],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def a_row(episode: str, modality: str, day: str, *, facility: str = "", legal: str = "", point: str = "") -> str:
    return f"{a_subject()},{episode},{modality},{day},{HAI_VAN},{facility},male,1991,ats;cannabis,{legal},{point}"


async def test_a_file_with_errors_is_reported_row_by_row_and_nothing_is_sent(suite: Suite, tmp_path: Path) -> None:
    path = admissions_csv(
        tmp_path / "errors.csv",
        [
            a_row("dn-pub-ok-1", "methadone", "2014-03-01", point="dtv-hai-van"),
            a_row("dn-pub-bad-1", "compulsory", "2014-03-02", facility=STANDARD_FACILITY),
            a_row("dn-pub-bad-2", "teleportation", "2014-13-40"),
        ],
    )
    result = publish(suite, path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert f"{path}:3: legal_basis: Value error, legal_basis is required for compulsory treatment" in lines
    assert any(line.startswith(f"{path}:4: modality: Input should be 'compulsory'") for line in lines)
    assert any(line.startswith(f"{path}:4: admitted_on: ") for line in lines)
    assert not any(line.startswith(f"{path}:2:") for line in lines)
    assert "nothing sent" in result.stderr
    async with suite.client("reporting") as reporting:
        assert await value(reporting, "admissions.methadone", "48", "2014") == 0


async def test_a_clean_file_counts_exactly_once_however_often_it_is_published(suite: Suite, tmp_path: Path) -> None:
    rows = [
        a_row(f"dn-pub-{i}", "compulsory", f"2015-0{1 + i % 6}-10", facility=STANDARD_FACILITY, legal="QĐ 7/2015/QĐ-TA")
        for i in range(5)
    ]
    rows += [a_row(f"dn-pub-c{i}", "voluntary_community", "2015-08-01", point="dtv-hai-van") for i in range(3)]
    path = admissions_csv(tmp_path / "clean.csv", rows)
    async with suite.client("reporting") as reporting:
        before = {i: await value(reporting, i, HAI_VAN, "2015") for i in ("admissions.compulsory", "admissions.total")}
        result = publish(suite, path)
        assert result.returncode == 0, result.stderr
        assert "8 valid rows, 0 errors" in result.stdout
        assert await eventually(lambda: value(reporting, "admissions.total", HAI_VAN, "2015"), 8) == 8
        assert await value(reporting, "admissions.compulsory", "48", "2015-H1") == 5
        assert await value(reporting, "admissions.voluntary_community", HAI_VAN, "2015-08") == 3
        assert before == {"admissions.compulsory": 0, "admissions.total": 0}

        duplicates = 'hoinhap_events_consumed_total{result="duplicate",type="admitted"}'
        seen = await metric(reporting, duplicates)
        again = publish(suite, path)
        assert again.returncode == 0, again.stderr
        assert await eventually(lambda: metric(reporting, duplicates), seen + 8) == seen + 8
        assert await value(reporting, "admissions.total", HAI_VAN, "2015") == 8


async def test_a_dry_run_checks_facility_ids_against_the_registry(suite: Suite, tmp_path: Path) -> None:
    path = admissions_csv(
        tmp_path / "facilities.csv",
        [
            a_row("dn-pub-f-1", "compulsory", "2016-03-01", facility=STANDARD_FACILITY, legal="QĐ 1/2016/QĐ-TA"),
            a_row("dn-pub-f-2", "compulsory", "2016-03-02", facility="never-registered", legal="QĐ 2/2016/QĐ-TA"),
        ],
    )
    unchecked = publish(suite, path, "--dry-run")
    assert unchecked.returncode == 0, unchecked.stderr
    assert "facility ids not checked against the registry" in unchecked.stdout
    checked = publish(suite, path, "--dry-run", "--facility-url", suite.url("facility"))
    assert checked.returncode == 1
    assert checked.stderr.splitlines()[0] == (
        f"{path}:3: facility_id: no facility of that id is registered (hoinhap facilities load)"
    )
