"""The reliability report (the last section of docs/reliability.md): what the fault, bad-input and security tests did,
in figures.

Those tests `tally` what they do (events sent, faults injected, bad inputs tried, requests denied) and `compare`
every view they check with its oracle, which tallies events lost and counted twice before the test asserts
equality, so a failing run reports its losses too. At the end of a pytest session the tallies are written to
test-artifacts/reliability.json. `python -m tests.reliability` runs those tests and writes the report from it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES_FILE = ROOT / "test-artifacts" / "reliability.json"
REPORT = ROOT / "docs" / "reliability.md"
#: The tests the report is made of.
PATHS = ("tests/faults", "tests/security", "tests/e2e/test_access.py")

#: Every figure, in the report's order, with its label; those that must be zero are listed in MUST_BE_ZERO.
FIGURES = {
    "events_sent": "Events sent (accepted over HTTP or published to the topics)",
    "faults.sigkill": "Service processes killed with SIGKILL and restarted",
    "faults.rebalance_kill": "Consumer replicas killed during a rebalance",
    "faults.postgres_restart": "PostgreSQL restarts while services write",
    "faults.broker_restart": "Broker stops and restarts",
    "bad_inputs.http": "Bad HTTP requests tried (schemathesis and hand-written)",
    "bad_inputs.kafka": "Bad Kafka records published straight to the topics",
    "bad_inputs.deadlettered": "Bad Kafka records found in the dead-letter topic with their reason",
    "events_lost": "Events lost (views short of the oracle)",
    "events_double_counted": "Events counted twice (views above the oracle)",
    "denied.cross_jurisdiction": "Requests denied across jurisdictions (403)",
    "denied.unauthenticated": "Requests denied without valid credentials (401)",
    "secrets_searched": "Logs, events, views and responses searched for IDs, names and tokens",
    "secrets_found": "IDs, names or tokens found there",
}
MUST_BE_ZERO = ("events_lost", "events_double_counted", "secrets_found")

_tally: Counter[str] = Counter()


def tally(figure: str, n: int = 1) -> None:
    """Add `n` to a figure of this run."""
    if figure not in FIGURES:
        raise KeyError(f"{figure} is not a figure of the reliability report")
    _tally[figure] += n


def compare(expected: Mapping[Hashable, int], actual: Mapping[Hashable, int]) -> None:
    """Tally what `actual` (a view) lacks against `expected` (its oracle) as lost, and what it has over as
    counted twice; the caller then asserts `actual == expected`."""
    for key in expected.keys() | actual.keys():
        difference = actual.get(key, 0) - expected.get(key, 0)
        if difference < 0:
            tally("events_lost", -difference)
        elif difference > 0:
            tally("events_double_counted", difference)
    tally("events_lost", 0)
    tally("events_double_counted", 0)


def write_figures(exit_status: int) -> None:
    """pytest_sessionfinish: keep this run's tallies, if any test tallied."""
    if not _tally:
        return
    FIGURES_FILE.parent.mkdir(exist_ok=True)
    FIGURES_FILE.write_text(json.dumps({"exit_status": exit_status, "figures": dict(_tally)}, indent=2) + "\n")


#: The heading of the report's generated section: what stands above it is written by hand and kept.
LAST_RUN = "## The last run\n"


def above_the_last_run(text: str) -> str:
    """The hand-written part of the report."""
    return text[: text.index(LAST_RUN)] if LAST_RUN in text else text.rstrip() + "\n\n"


def render(figures: Mapping[str, int], exit_status: int, command: str, seconds: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    revision = commit.stdout.strip() or "unknown"
    rows = "\n".join(
        f"| {label} | {figures.get(key, 0):,} | {'must be 0' if key in MUST_BE_ZERO else ''} |"
        for key, label in FIGURES.items()
    )
    verdict = (
        "All tests passed."
        if exit_status == 0 and not any(figures.get(k, 0) for k in MUST_BE_ZERO)
        else f"**Failed** (pytest exit status {exit_status}): see the test output."
    )
    return f"""{LAST_RUN}
Regenerate with `{command}`: it runs {", ".join(f"`{p}`" for p in PATHS)}
on a real broker and PostgreSQL (found as the tests find them) and rewrites this section.

Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit `{revision}`, {seconds:.0f} s. {verdict}

| Figure | Value | |
|---|---:|---|
{rows}
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest")
    args = parser.parse_args()
    FIGURES_FILE.unlink(missing_ok=True)
    started = datetime.now(UTC)
    status = subprocess.run([sys.executable, "-m", "pytest", *PATHS, *args.pytest_args], cwd=ROOT).returncode
    seconds = (datetime.now(UTC) - started).total_seconds()
    figures = json.loads(FIGURES_FILE.read_text())["figures"] if FIGURES_FILE.exists() else {}
    report = render(figures, status, "python -m tests.reliability", seconds)
    REPORT.write_text(above_the_last_run(REPORT.read_text()) + report)
    print(report)
    return status


if __name__ == "__main__":
    sys.exit(main())
