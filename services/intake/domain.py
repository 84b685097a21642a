"""Intake's rules: pseudonymising a national ID, and what an admission must satisfy."""

from __future__ import annotations

import hashlib
import hmac


def pseudonymise(national_id: str, key: bytes) -> str:
    """The `subject` of a person: a keyed hash of their national ID, the same for every registration."""
    return hmac.new(key, national_id.strip().encode(), hashlib.sha256).hexdigest()
