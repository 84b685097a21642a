"""The README stays true: CI runs exactly the test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && "
    [test_line] = [line for line in readme.splitlines() if line.startswith(install) and "pytest" in line]
    command = test_line.removeprefix(install)
    assert command in ci.splitlines()
    assert "pip install --quiet --disable-pip-version-check -e '.[test]'" in ci


def test_the_readme_start_command_starts_the_suite() -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^python3 -m venv \.venv .*&& hoinhap up --demo$", readme, re.M)
