"""Aftercare's rules: who is taken into post-treatment management."""

from __future__ import annotations

from shared.events import Completed, Outcome


def opens_aftercare(completed: Completed) -> bool:
    """Everyone who completed treatment is managed where they return to."""
    return completed.outcome == Outcome.COMPLETED
