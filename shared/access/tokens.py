"""Agency tokens and access events, signed: a token is `hn1.<claims>.<mac>`, its claims (id, agency, jurisdiction,
expiry) signed with a key derived from `HOINHAP_ADMIN_TOKEN`, so any service can verify it at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.consumer import Check
from shared.events import Event, TokenIssued, TokenIssuedEvent, TokenRevoked, TokenRevokedEvent

VERSION = "hn1"


def signing_key(admin_token: str) -> bytes:
    """The key that signs tokens and access events; changing the admin token invalidates every agency token."""
    return hmac.new(admin_token.encode(), b"hoinhap access signing v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class Claims:
    token_id: str
    agency: str
    units: frozenset[str]
    expires_at: int  # seconds since the epoch


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def mint(key: bytes, agency: str, units: list[str], expires_at: datetime) -> tuple[str, Claims]:
    """A new token and its claims; the token is shown once and stored nowhere."""
    claims = Claims(secrets.token_hex(16), agency, frozenset(units), int(expires_at.timestamp()))
    body = {"tid": claims.token_id, "agency": agency, "units": sorted(units), "exp": claims.expires_at}
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{VERSION}.{payload}.{_mac(key, f'{VERSION}.{payload}')}", claims


def verify(key: bytes, token: str, now: float | None = None) -> Claims | None:
    """The token's claims if it is well-formed, signed with `key` and not expired; otherwise None."""
    version, _, rest = token.partition(".")
    payload, _, mac = rest.partition(".")
    if version != VERSION or not hmac.compare_digest(mac.encode(), _mac(key, f"{version}.{payload}").encode()):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims = Claims(str(body["tid"]), str(body["agency"]), frozenset(map(str, body["units"])), int(body["exp"]))
    except (ValueError, KeyError, TypeError):
        return None
    return claims if claims.expires_at > (now if now is not None else time.time()) else None


def sign(key: bytes, data: dict[str, Any]) -> str:
    """MAC of an access event's data (all fields but the signature), as the events carry it."""
    canonical = json.dumps({k: v for k, v in data.items() if k != "signature"}, sort_keys=True, default=str)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def signed(key: bytes, model: type[TokenIssued] | type[TokenRevoked], **fields: Any) -> Any:
    unsigned = model.model_construct(**fields, signature="").model_dump(mode="json")
    return model.model_validate_json(json.dumps({**unsigned, "signature": sign(key, unsigned)}))


def bad_signature(key: bytes) -> Check:
    """`Consumer` check: an access event not signed with the suite's key is forged."""

    def check(event: Event) -> tuple[str, str] | None:
        if isinstance(event, TokenIssuedEvent | TokenRevokedEvent):
            data = event.data.model_dump(mode="json")
            if not hmac.compare_digest(data["signature"], sign(key, data)):
                return "bad_signature", "data.signature: the access event is not signed with the suite's key"
        return None

    return check
