"""What reporting's HTTP write side does, without HTTP: a plan target set, audited, and every reader told."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reporting.changes import views_changed
from services.reporting.read.cache import ReadCache
from shared.audit import audit
from shared.auth import Principal


@dataclass(frozen=True)
class PlanTarget:
    """A target for an indicator that takes targets, a unit and a period (in its shortest form)."""

    indicator_id: str
    unit: str
    period: str
    value: int
    source_document: str


async def set_target(
    db: async_sessionmaker[AsyncSession],
    target: PlanTarget,
    principal: Principal,
    *,
    audit_log: Table,
    schema: str,
    cache: ReadCache,
) -> datetime:
    """Record a new version of a target (earlier ones stay, for `as_of`) with its audit row, in one transaction
    that tells every reporting process its reads changed; returns when it was set."""
    async with db.begin() as session:
        set_at = await _insert_target(session, asdict(target) | {"agency": principal.agency})
        detail = f"{target.indicator_id} {target.unit} {target.period}"
        await audit(session, audit_log, principal, "set_target", detail)
        await views_changed(session, schema)
    cache.changed()
    return set_at


async def _insert_target(session: AsyncSession, row: dict[str, object]) -> datetime:
    set_at: datetime = (
        await session.execute(
            text(
                "INSERT INTO targets (indicator_id, unit, period, value, source_document, agency) "
                "VALUES (:indicator_id, :unit, :period, :value, :source_document, :agency) RETURNING set_at"
            ),
            row,
        )
    ).scalar_one()
    return set_at
