"""Reading the views."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain import Period
from services.reporting.models import indicator_totals as t


async def get_totals(
    session: AsyncSession, indicator_ids: Collection[str], unit: str, period: Period
) -> dict[str, int]:
    """Each indicator's total for a unit over a period; indicators without events are 0."""
    rows = await session.execute(
        select(t.c.indicator_id, func.sum(t.c.value))
        .where(
            t.c.indicator_id.in_(indicator_ids),
            t.c.unit == unit,
            t.c.month.between(period.first, period.last),
        )
        .group_by(t.c.indicator_id)
    )
    found = {indicator_id: int(total) for indicator_id, total in rows.tuples()}
    return {i: found.get(i, 0) for i in indicator_ids}
