"""case flow: episodes end and relapse, facilities known, parked events; agencies' admissions need no person

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
    op.drop_constraint("episodes_subject_fkey", "episodes", type_="foreignkey")
    op.add_column("episodes", sa.Column("ended_on", sa.Date(), nullable=True))
    op.add_column("episodes", sa.Column("outcome", sa.Text(), nullable=True))
    op.add_column("episodes", sa.Column("relapsed_on", sa.Date(), nullable=True))
    op.create_table(
        "facilities",
        sa.Column("facility_id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("modalities", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("facility_id"),
    )
    create_parked_events_table()


def downgrade() -> None:
    op.drop_table("parked_events")
    op.drop_table("facilities")
    op.drop_column("episodes", "relapsed_on")
    op.drop_column("episodes", "outcome")
    op.drop_column("episodes", "ended_on")
    op.create_foreign_key("episodes_subject_fkey", "episodes", "persons", ["subject"], ["subject"])
