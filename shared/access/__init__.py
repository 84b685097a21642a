"""Agency tokens: issued and revoked by the national operator, verified by every service on its own.

The service that issues or revokes a token announces it on `rehab.access` with a signed event (`tokens.py`); every
service keeps those in its `access_tokens` table (`store.py`), which is how a revocation reaches every replica. The
operator's endpoints are in `api.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.store import Authenticator, record
from shared.access.tokens import bad_signature, signing_key
from shared.events import ACCESS_TOPIC, Event
from shared.runtime import Runtime

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
    return access
