"""Agency tokens: issued and revoked by the national operator, verified by every service on its own.

A token is `hn1.<claims>.<mac>`: its claims (id, agency, jurisdiction, expiry) are signed with a key derived
from `HOINHAP_ADMIN_TOKEN`, so any service can verify it at once. The service that issues or revokes a token
announces it on `rehab.access` with a signed event; every service keeps those in its `access_tokens` table
(hashes only, never the token), which is how a revocation reaches every replica.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
from alembic import op
from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from faststream.kafka import KafkaRouter
from pydantic import BaseModel, Field
from sqlalchemy import ARRAY, Column, DateTime, MetaData, Table, Text, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import units as reference
from shared.audit import audit
from shared.auth import NATIONAL_OPERATOR, CurrentPrincipal, Principal
from shared.consumer import Check, Consumer
from shared.events import ACCESS_TOPIC, Event, TokenIssued, TokenIssuedEvent, TokenRevoked, TokenRevokedEvent, new_event
from shared.outbox import add_to_outbox
from shared.pipeline import Pipeline, pipelined_subscriber

if TYPE_CHECKING:
    from shared.runtime import Runtime

VERSION = "hn1"
SOURCE = "/vn/hoinhap/access"


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


def _signed(key: bytes, model: type[TokenIssued] | type[TokenRevoked], **fields: Any) -> Any:
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


def access_tokens_table(metadata: MetaData) -> Table:
    """What a service knows of every agency token: never the token, only its hash."""
    return Table(
        "access_tokens",
        metadata,
        Column("token_id", Text, primary_key=True),
        Column("agency", Text),
        Column("units", ARRAY(Text)),
        Column("token_sha256", Text),
        Column("issued_at", DateTime(timezone=True)),
        Column("expires_at", DateTime(timezone=True)),
        Column("revoked_at", DateTime(timezone=True)),
    )


def create_access_tokens_table() -> None:
    """Migration step of every service. Frozen: change the table in a new revision."""
    op.create_table(
        "access_tokens",
        sa.Column("token_id", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("units", sa.ARRAY(sa.Text()), nullable=True),
        sa.Column("token_sha256", sa.Text(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_id"),
    )


async def record(session: AsyncSession, tokens: Table, events: list[Event]) -> None:
    """Apply access events, in any order: a revocation seen before its issue still revokes."""
    for event in events:
        if isinstance(event, TokenIssuedEvent):
            d = event.data
            row = {
                "agency": d.agency,
                "units": d.units,
                "token_sha256": d.token_sha256,
                "issued_at": d.issued_at,
                "expires_at": d.expires_at,
            }
            await session.execute(
                insert(tokens)
                .values(token_id=d.token_id, **row)
                .on_conflict_do_update(index_elements=["token_id"], set_=row)
            )
        elif isinstance(event, TokenRevokedEvent):
            d2 = event.data
            await session.execute(
                insert(tokens)
                .values(token_id=d2.token_id, revoked_at=d2.revoked_at)
                .on_conflict_do_update(
                    index_elements=["token_id"],
                    set_={"revoked_at": sa.func.coalesce(tokens.c.revoked_at, d2.revoked_at)},
                )
            )


class Authenticator:
    """Resolves bearer tokens: the operator token from the environment, or a signed agency token not revoked."""

    def __init__(
        self,
        admin_token: str,
        sessions: async_sessionmaker[AsyncSession],
        tokens: Table,
        revocation_cache_seconds: float = 2.0,
    ) -> None:
        self.admin_token = admin_token.encode()
        self.key = signing_key(admin_token)
        self.sessions = sessions
        self.tokens = tokens
        self.cache_seconds = revocation_cache_seconds
        self._revoked: dict[str, tuple[float, bool]] = {}

    async def __call__(self, token: str) -> Principal | None:
        if hmac.compare_digest(token.encode(), self.admin_token):
            return NATIONAL_OPERATOR
        claims = verify(self.key, token)
        if claims is None or await self._is_revoked(claims.token_id):
            return None
        return Principal(claims.agency, claims.units, token_id=claims.token_id)

    async def _is_revoked(self, token_id: str) -> bool:
        checked = self._revoked.get(token_id)
        if checked is not None and time.monotonic() - checked[0] < self.cache_seconds:
            return checked[1]
        async with self.sessions() as session:
            revoked_at = await session.scalar(
                select(self.tokens.c.revoked_at).where(self.tokens.c.token_id == token_id)
            )
        self._revoked[token_id] = (time.monotonic(), revoked_at is not None)
        return revoked_at is not None

    def revoked_here(self, token_id: str) -> None:
        self._revoked[token_id] = (float("inf"), True)


# --- HTTP: the national operator issues, lists and revokes agency tokens on any service --------------------

router = APIRouter(prefix="/v1/tokens", tags=["access"])
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The token's id, as issued.")]


class TokenRequest(BaseModel):
    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Agency slug, e.g. hanoi-dolisa.")
    units: Annotated[list[str], Field(min_length=1, max_length=100)] = Field(
        description="Jurisdiction: VN, province codes (2 digits) or ward codes (5 digits)."
    )
    expires_in_days: int = Field(default=365, ge=1, le=3650, description="Lifetime of the token.")


class TokenOut(BaseModel):
    token_id: str
    agency: str
    units: list[str]
    expires_at: datetime
    token: str = Field(description="The bearer token. It is shown this once and stored nowhere.")


class TokenInfo(BaseModel):
    token_id: str
    agency: str | None
    units: list[str] | None
    issued_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def _operator(principal: Principal) -> None:
    if not principal.operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the national operator manages tokens")


def _runtime(request: Request) -> tuple[Runtime, Access]:
    return request.app.state.runtime, request.app.state.access


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenOut,
    responses={403: {}},
    summary="Issue an agency token (national operator only)",
)
async def issue_token(body: TokenRequest, principal: CurrentPrincipal, request: Request) -> TokenOut:
    _operator(principal)
    unknown = [
        u for u in body.units if not (u == reference.COUNTRY or reference.is_province(u) or reference.is_ward(u))
    ]
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body", "units"], "msg": f"not VN, a province or a ward: {unknown}", "type": "value_error"}],
        )
    runtime, access = _runtime(request)
    now = datetime.now(UTC)
    token, claims = mint(access.key, body.agency, body.units, now + timedelta(days=body.expires_in_days))
    issued = _signed(
        access.key,
        TokenIssued,
        token_id=claims.token_id,
        agency=body.agency,
        units=sorted(body.units),
        issued_at=now,
        expires_at=now + timedelta(days=body.expires_in_days),
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
    )
    event = new_event(issued, subject=claims.token_id, source=SOURCE)
    async with runtime.sessions.begin() as session:
        await record(session, access.tokens, [event])
        await add_to_outbox(session, runtime.relay.outbox, event)
        await audit(session, access.audit_log, principal, "issue_token", claims.token_id)
    runtime.relay.wake()
    return TokenOut(
        token_id=claims.token_id,
        agency=body.agency,
        units=sorted(body.units),
        expires_at=issued.expires_at,
        token=token,
    )


@router.get("", response_model=list[TokenInfo], responses={403: {}}, summary="List agency tokens (operator only)")
async def list_tokens(principal: CurrentPrincipal, request: Request) -> list[TokenInfo]:
    _operator(principal)
    runtime, access = _runtime(request)
    t = access.tokens
    async with runtime.sessions() as session:
        rows = (await session.execute(select(t).order_by(t.c.issued_at))).mappings()
        return [TokenInfo.model_validate({k: v for k, v in row.items() if k != "token_sha256"}) for row in rows]


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {}, 404: {}},
    summary="Revoke an agency token (operator only); every service refuses it within seconds",
)
async def revoke_token(token_id: TokenId, principal: CurrentPrincipal, request: Request) -> Response:
    _operator(principal)
    runtime, access = _runtime(request)
    async with runtime.sessions.begin() as session:
        known = await session.scalar(select(access.tokens.c.token_id).where(access.tokens.c.token_id == token_id))
        if known is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token_id")
        revoked = _signed(access.key, TokenRevoked, token_id=token_id, revoked_at=datetime.now(UTC))
        event = new_event(revoked, subject=token_id, source=SOURCE)
        await record(session, access.tokens, [event])
        await add_to_outbox(session, runtime.relay.outbox, event)
        await audit(session, access.audit_log, principal, "revoke_token", token_id)
    access.authenticate.revoked_here(token_id)
    runtime.relay.wake()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- Kafka: every service records every access event ------------------------------------------------------


@dataclass
class Access:
    """A service's access machinery, built in `create_service_app` and kept in `app.state.access`."""

    key: bytes
    tokens: Table
    audit_log: Table
    authenticate: Authenticator


def build_access(runtime: Runtime, tokens: Table, audit_log: Table) -> Access:
    admin_token = runtime.settings.admin_token.get_secret_value()
    return Access(signing_key(admin_token), tokens, audit_log, Authenticator(admin_token, runtime.sessions, tokens))


def subscriber(runtime: Runtime, access: Access) -> tuple[KafkaRouter, Pipeline]:
    """Consumes `rehab.access` into the service's `access_tokens` table, in a consumer group of its own; run the
    pipeline while the service is up."""

    async def apply(session: AsyncSession, events: list[Event]) -> None:
        await record(session, access.tokens, events)

    consumer = Consumer(
        runtime.sessions,
        apply,
        runtime.dead_letters,
        runtime.metrics,
        topic_prefix=runtime.settings.topic_prefix,
        check=bad_signature(access.key),
    )
    kafka = KafkaRouter()
    return kafka, pipelined_subscriber(kafka, runtime.settings, consumer, ACCESS_TOPIC, group_suffix="-access")
