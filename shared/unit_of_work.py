"""The unit of work a use case writes through: the service's own tables, the outbox, the inbox claim and the audit
row in one transaction, and the outbox relay woken once it has committed."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

from shared.audit import audit
from shared.auth import Principal
from shared.events import Event
from shared.inbox import claim
from shared.outbox import add_to_outbox


class UnitOfWork:
    """`async with work() as uow:` begins a transaction; `uow.session` writes the service's tables, `publish` and
    `audit` add the rest. It commits on leaving the block (rolls back on an error), then wakes the relay if it
    published anything."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: Table, audit_log: Table, wake: Callable[[], None]
    ) -> None:
        self.session = sessions()
        self._outbox = outbox
        self._audit_log = audit_log
        self._wake = wake
        self._published = False
        self._transaction: AsyncSessionTransaction | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._transaction = self.session.begin()
        try:
            await self._transaction.__aenter__()
        except BaseException:
            await self.session.close()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            assert self._transaction is not None
            await self._transaction.__aexit__(kind, error, traceback)
        finally:
            await self.session.close()
        if error is None and self._published:
            self._wake()

    async def publish(self, *events: Event) -> None:
        """Stage events this service decided on in the outbox, and mark them applied here (the inbox), so that
        consuming them back from Kafka changes nothing."""
        if events:
            await add_to_outbox(self.session, self._outbox, *events)
            await claim(self.session, events)
            self._published = True

    async def audit(self, principal: Principal, action: str, target: str) -> None:
        """Record who wrote what: `action` a verb phrase such as `admit`, `target` the id of what was written."""
        await audit(self.session, self._audit_log, principal, action, target)


#: Begins a unit of work: what a use case is given by a route.
Work = Callable[[], UnitOfWork]
