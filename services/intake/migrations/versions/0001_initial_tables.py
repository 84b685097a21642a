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
        "persons",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("sex", sa.Text(), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=False),
        sa.Column("residence_unit", sa.Text(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "episodes",
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("modality", sa.Text(), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Text(), nullable=True),
        sa.Column("substances", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("service_point_id", sa.Text(), nullable=True),
        sa.Column("previous_episode_id", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject"],
            ["persons.subject"],
        ),
        sa.PrimaryKeyConstraint("episode_id"),
        sa.UniqueConstraint("subject", "modality", "admitted_on", name="episodes_natural_key"),
    )


def downgrade() -> None:
    op.drop_table("episodes")
    op.drop_table("persons")
    op.drop_table("outbox")
    op.drop_table("inbox")
