"""case flow: episodes, closing cases, employment support, parked events

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from shared.parking import create_parked_events_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "episodes",
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("modality", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("episode_id"),
    )
    op.add_column("aftercare_cases", sa.Column("closed_on", sa.Date(), nullable=True))
    op.add_column("aftercare_cases", sa.Column("closed_reason", sa.Text(), nullable=True))
    op.create_table(
        "supports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.Column("support", sa.Text(), nullable=False),
        sa.Column("employed_on", sa.Date(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("episode_id", "support", "employed_on", name="supports_natural_key"),
    )
    create_parked_events_table()


def downgrade() -> None:
    op.drop_table("parked_events")
    op.drop_table("supports")
    op.drop_column("aftercare_cases", "closed_reason")
    op.drop_column("aftercare_cases", "closed_on")
    op.drop_table("episodes")
