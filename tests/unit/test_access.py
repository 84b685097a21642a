"""Agency tokens: signed claims any service can verify, and signed access events."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from shared.access.tokens import bad_signature, mint, sign, signing_key, verify
from shared.events import TokenRevoked, new_event

KEY = signing_key("an-admin-token-of-the-test")


def test_a_minted_token_verifies_to_its_claims() -> None:
    token, claims = mint(KEY, "hanoi-dolisa", ["01", "00070"], datetime.now(UTC) + timedelta(days=1))
    assert verify(KEY, token) == claims
    assert claims.agency == "hanoi-dolisa"
    assert claims.units == {"01", "00070"}


def test_a_token_from_another_key_or_altered_is_refused() -> None:
    token, _ = mint(KEY, "hanoi-dolisa", ["01"], datetime.now(UTC) + timedelta(days=1))
    assert verify(signing_key("another-admin-token"), token) is None
    version, payload, mac = token.split(".")
    forged_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    assert verify(KEY, f"{version}.{forged_payload}.{mac}") is None
    assert verify(KEY, "hn1.not-base64.xyz") is None
    assert verify(KEY, "") is None


def test_an_expired_token_is_refused() -> None:
    token, claims = mint(KEY, "hanoi-dolisa", ["01"], datetime.now(UTC) + timedelta(seconds=30))
    assert verify(KEY, token, now=time.time()) == claims
    assert verify(KEY, token, now=time.time() + 31) is None


def test_access_events_not_signed_with_the_suite_key_are_forged() -> None:
    data = {"token_id": "a" * 32, "revoked_at": "2026-01-01T00:00:00Z"}
    genuine = TokenRevoked.model_validate_json(json.dumps({**data, "signature": sign(KEY, data)}))
    forged = TokenRevoked.model_validate_json(json.dumps({**data, "signature": sign(signing_key("guess"), data)}))
    check = bad_signature(KEY)
    assert check(new_event(genuine, subject="a" * 32, source="/vn/hoinhap/access")) is None
    problem = check(new_event(forged, subject="a" * 32, source="/vn/hoinhap/access"))
    assert problem is not None
    assert problem[0] == "bad_signature"
