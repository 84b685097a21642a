"""initial tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.database import create_inbox_and_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_and_outbox()
    op.create_table(
        "indicator_totals",
        sa.Column("indicator_id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("indicator_id", "unit", "month"),
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("indicator_totals")
    op.drop_table("inbox")
