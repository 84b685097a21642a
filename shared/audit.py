"""The audit log: who changed what and when, written in the same transaction as the change. No personal data:
an entry names the agency, the token and the ids of what was written (episode, facility, token), nothing else."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import BigInteger, Column, DateTime, Identity, MetaData, Table, Text, func
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal


def audit_log_table(metadata: MetaData) -> Table:
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("agency", Text, nullable=False),
        Column("token_id", Text),
        Column("action", Text, nullable=False),
        Column("target", Text, nullable=False),
    )


def create_audit_log_table() -> None:
    """Migration step of every service. Frozen: change the table in a new revision."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("token_id", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


async def audit(session: AsyncSession, log: Table, principal: Principal, action: str, target: str) -> None:
    """Record a write; `action` is a verb phrase such as `admit`, `target` the id of what was written."""
    await session.execute(
        log.insert().values(agency=principal.agency, token_id=principal.token_id, action=action, target=target)
    )
