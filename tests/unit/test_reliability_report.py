"""Regenerating the reliability report rewrites its last section only: the text above it is written by hand."""

from __future__ import annotations

from tests.reliability import LAST_RUN, above_the_last_run, render


def test_regenerating_the_report_keeps_what_stands_above_the_last_run() -> None:
    by_hand = "# Reliability\n\nWhat the fault tests do.\n\n"
    old = by_hand + LAST_RUN + "\nLast run: long ago.\n"

    new = above_the_last_run(old) + render({"events_sent": 7}, 0, "python -m tests.reliability", 3.0)

    assert new.startswith(by_hand + LAST_RUN)
    assert "long ago" not in new and "| 7 |" in new
