"""What a service knows of agency tokens (their hashes, never a token) and how it resolves a bearer token."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op
from sqlalchemy import ARRAY, Column, DateTime, MetaData, Table, Text, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access.tokens import bad_signature, signing_key, verify
from shared.auth import NATIONAL_OPERATOR, Principal
from shared.events import ACCESS_TOPIC, Event, TokenIssuedEvent, TokenRevokedEvent
from shared.runtime import Runtime


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


#: The `source` of access events.
SOURCE = "/vn/hoinhap/access"


@dataclass
class Access:
    """A service's access machinery, kept in `app.state.access`."""

    key: bytes
    tokens: Table
    authenticate: Authenticator


def install(runtime: Runtime, tokens: Table) -> Access:
    """The service's access machinery; consumes `rehab.access` into `tokens`, in a consumer group of its own."""
    admin_token = runtime.settings.admin_token.get_secret_value()
    access = Access(signing_key(admin_token), tokens, Authenticator(admin_token, runtime.sessions, tokens))

    async def apply(session: AsyncSession, events: list[Event]) -> None:
        await record(session, tokens, events)

    runtime.subscribe([ACCESS_TOPIC], apply, check=bad_signature(access.key), group_suffix="-access")
    runtime.publishes("vn.rehab.token_issued.v1", "vn.rehab.token_revoked.v1")
    return access
