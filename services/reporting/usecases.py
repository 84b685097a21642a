"""What reporting's HTTP write side does, without HTTP: a plan target set, audited, and every reader told."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.changes import views_changed
from shared.auth import Principal
from shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class PlanTarget:
    """A target for an indicator that takes targets, a unit and a period (in its shortest form)."""

    indicator_id: str
    unit: str
    period: str
    value: int
    source_document: str


async def set_target(uow: UnitOfWork, principal: Principal, target: PlanTarget, *, schema: str) -> datetime:
    """Record a new version of a target (earlier ones stay, for `as_of`) with its audit row; on commit, every
    reporting process hears that its reads changed. Returns when it was set."""
    set_at = await _insert_target(uow.session, asdict(target) | {"agency": principal.agency})
    await uow.audit(principal, "set_target", f"{target.indicator_id} {target.unit} {target.period}")
    await views_changed(uow.session, schema)
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
